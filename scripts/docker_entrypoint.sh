#!/bin/sh
# The image's entrypoint: check that the folders the app writes are writable by this user, then run the command.
# A bind-mounted ./outputs or ./runs that the container engine created for root is the usual trap (training would
# fail later with PermissionError); say so in one line and stop, instead.
for dir in /app/outputs /app/runs; do
    if [ -d "$dir" ] && [ ! -w "$dir" ]; then
        echo "error: $dir is not writable by uid $(id -u) (owner uid $(stat -c %u "$dir")): start with \`docker compose up\`, which hands ./outputs and ./runs to uid 1000, or run \`sudo chown 1000:1000 outputs runs\` on the host." >&2
        exit 2
    fi
done
exec "$@"
