#!/bin/sh
# Compose's one-shot `volumes` service (runs as root, then exits): hand the bind-mounted ./outputs and ./runs to
# the app user (uid 1000) when they belong to root, which is what the engine does when it creates a missing
# folder for a fresh checkout (and what a checkout made by root has). Folders that belong to anyone else are left
# alone; the app's entrypoint then says in one line if it cannot write to them.
set -eu
for dir in /app/outputs /app/runs; do
    if [ "$(stat -c %u "$dir")" = 0 ]; then
        chown 1000:1000 "$dir"
        echo "$dir handed to uid 1000"
    fi
done
