#!/usr/bin/env bash
# Smoke test of the container image and the compose file, end to end (`make docker-smoke`; .ci/run runs it).
#
# Uses Docker when an engine answers (`docker info`); otherwise installs podman from Debian's packages and
# podman-compose from PyPI, and makes the Dockerfile's base image locally with mmdebstrap (no container registry is
# needed). Then: builds the unmodified Dockerfile, runs the container on 127.0.0.1, waits for /_stcore/health,
# loads the home page in headless Chromium, translates a sample through the container's CLI, runs the compose file
# from a copy that looks like a fresh checkout (no outputs/ or runs/), trains for two steps inside it and checks
# the run folder appeared on the host. Everything it started is removed on exit, whatever happened.
# Exits non-zero on any failure, with the phase and the reason; prints each phase's time and the image size.
#
# Settings (environment): SMOKE_PYTHON (a python with playwright; default .venv/bin/python),
# SMOKE_KEEP_IMAGES=0 (also remove the built and base images at the end; by default they stay, with the build
# cache, so a rerun builds only what changed: `podman image prune` frees the space), SMOKE_TIMEOUT_HEALTH (seconds, 240).
# Must run as root where there is no Docker engine (it installs packages and runs rootful podman).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

IMAGE=sar-studio:cpu                      # the name docker-compose.yml gives the CPU image
PY="${SMOKE_PYTHON:-$ROOT/.venv/bin/python}"
HEALTH_TIMEOUT="${SMOKE_TIMEOUT_HEALTH:-240}"
NICE=(nice -n 10)                         # the build is heavy and the machine is shared
TAG="sar-smoke-$$"
WORK="$(mktemp -d /tmp/sar-smoke.XXXXXX)"
PHASE=setup
START_ALL=$(date +%s)
PHASE_START=$START_ALL
TIMINGS=()
SERVER_PID=""
ENGINE=""
COMPOSE=()
COMPOSE_DIR="$WORK/checkout"
BASE_IMAGE=""

say() { printf '[docker-smoke] %s\n' "$*" >&2; }
fail() {
    say "FAILED in phase '$PHASE': $*"
    exit 1
}
phase() {                                  # phase NAME: close the previous phase's clock, start the next
    local now
    now=$(date +%s)
    [ "$PHASE" = setup ] || TIMINGS+=("$(printf "%-10s %5ss" "$PHASE" $((now - PHASE_START)))")
    PHASE="$1"
    PHASE_START=$now
    say "== $PHASE"
}
retry() {                                  # retry N CMD...: for network steps (apt, pip)
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        if "$@"; then return 0; fi
        say "attempt $i/$n failed: $*"
        sleep $((i * 10))
    done
    return 1
}

cleanup() {
    local rc=$? now
    trap - EXIT INT TERM
    set +e
    now=$(date +%s)
    TIMINGS+=("$(printf '%-10s %5ss' "$PHASE" $((now - PHASE_START)))")
    PHASE=cleanup
    PHASE_START=$now
    if [ -n "$ENGINE" ]; then
        if [ ${#COMPOSE[@]} -gt 0 ] && [ -f "$COMPOSE_DIR/docker-compose.yml" ]; then
            (cd "$COMPOSE_DIR" && "${COMPOSE[@]}" -p "$TAG" down -v -t 5) >/dev/null 2>&1
        fi
        # whatever is left with our tag (the single container, compose's containers, networks, volumes)
        $ENGINE ps -aq --filter "name=$TAG" | xargs -r $ENGINE rm -f >/dev/null 2>&1
        $ENGINE network ls -q --filter "name=$TAG" | xargs -r $ENGINE network rm >/dev/null 2>&1
        $ENGINE volume ls -q --filter "name=$TAG" | xargs -r $ENGINE volume rm -f >/dev/null 2>&1
        if [ "${SMOKE_KEEP_IMAGES:-1}" = 0 ]; then
            $ENGINE rmi -f "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
        fi
        left=$($ENGINE ps -aq --filter "name=$TAG")
        [ -z "$left" ] || say "warning: containers left behind: $left"
    fi
    [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
    now=$(date +%s)
    TIMINGS+=("$(printf '%-10s %5ss' "$PHASE" $((now - PHASE_START)))")
    say "timings:"
    printf '    %s\n' "${TIMINGS[@]}" >&2
    say "total $((now - START_ALL))s"
    if [ $rc -eq 0 ]; then say "PASSED"; else say "FAILED (exit $rc)"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'say "command failed (line $LINENO): $BASH_COMMAND"' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --------------------------------------------------------------------------------------------------- the engine
phase engine
[ -x "$PY" ] && "$PY" -c 'import playwright' 2>/dev/null \
    || fail "$PY has no playwright: run \`make install-dev\` first (or set SMOKE_PYTHON)"
[ -x /usr/bin/chromium ] || fail "no /usr/bin/chromium for the page check: apt-get install chromium"
if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
    ENGINE=docker
    BUILD=(docker build)
    if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
    say "using Docker ($(docker version --format '{{.Server.Version}}'))"
else
    [ "$(id -u)" = 0 ] || fail "no Docker engine answers and installing podman needs root"
    say "no Docker engine answers (docker info); using podman"
    export DEBIAN_FRONTEND=noninteractive
    need=()
    for p in podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        say "installing ${need[*]} (apt)"
        retry 3 apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null || fail "apt-get update failed 3 times"
        retry 3 apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${need[@]}" \
            >"$WORK/apt.log" 2>&1 \
            || { tail -20 "$WORK/apt.log" >&2; fail "apt-get install ${need[*]} failed 3 times"; }
    fi
    # crun refuses this kind of machine's hybrid cgroup layout; podman's default ulimits fail with EPERM here.
    cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    export CONTAINERS_CONF="$WORK/containers.conf"
    say "installing podman-compose (PyPI) into $WORK/venv"
    python3 -m venv "$WORK/venv"
    retry 3 "$WORK/venv/bin/pip" install -q podman-compose==1.6.0 >"$WORK/pip.log" 2>&1 \
        || { tail -20 "$WORK/pip.log" >&2; fail "pip install podman-compose failed"; }
    ENGINE=podman
    BUILD=(podman build --format docker)
    COMPOSE=("$WORK/venv/bin/podman-compose")
    say "using podman $(podman version --format '{{.Client.Version}}')"
fi

# ----------------------------------------------------------------------------------------------- the base image
phase base
ARG_LINE="$(grep -m1 '^ARG PYTHON_IMAGE=' Dockerfile)"
BASE_IMAGE="${ARG_LINE#ARG PYTHON_IMAGE=}"
grep -q '^FROM ${PYTHON_IMAGE}$' Dockerfile || fail "the Dockerfile's FROM is not \${PYTHON_IMAGE} any more"
if $ENGINE image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "$BASE_IMAGE is there"
elif [ "$ENGINE" = docker ] && retry 2 docker pull -q "$BASE_IMAGE" >/dev/null; then
    say "pulled $BASE_IMAGE"
else
    # python:3.11-slim-bookworm -> Debian bookworm, whose python3 is 3.11
    SUITE="${BASE_IMAGE##*-}"
    [ "$ENGINE" = podman ] || command -v mmdebstrap >/dev/null \
        || fail "cannot pull $BASE_IMAGE and mmdebstrap is missing to make it (apt-get install mmdebstrap)"
    # the same Debian archive the host uses: its enabled source files that name this suite
    sources=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && grep -Eq "^[^#]*\b$SUITE\b" "$f" && grep -qi debian "$f" && sources+=("$f")
    done
    [ ${#sources[@]} -gt 0 ] || fail "no apt source of this host names Debian '$SUITE'; cannot make $BASE_IMAGE"
    say "making $BASE_IMAGE with mmdebstrap ($SUITE, from ${sources[*]})"
    retry 2 "${NICE[@]}" mmdebstrap --variant=minbase --mode=root --format=tar \
        --aptopt='APT::Install-Recommends "false"' \
        --include=python3,python3-venv,ca-certificates,passwd \
        --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$SUITE" "$WORK/base.tar" "${sources[@]}" >"$WORK/mmdebstrap.log" 2>&1 \
        || { tail -20 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap failed"; }
    $ENGINE import \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        "$WORK/base.tar" "$BASE_IMAGE" >"$WORK/import.log" 2>&1 \
        || { tail -20 "$WORK/import.log" >&2; fail "$ENGINE import of the base image failed"; }
    rm -f "$WORK/base.tar"
fi

# ------------------------------------------------------------------------------------------------------ build
phase build
TORCH_PIN="$(grep -m1 '^torch==' requirements.txt)"
build_args=()
if timeout 20 python3 -c 'import urllib.request; urllib.request.urlopen("https://download.pytorch.org/whl/cpu/torch/", timeout=15)' 2>/dev/null; then
    say "PyTorch's CPU index answers: the Dockerfile's default"
else
    # Where pip takes the pinned torch from on this machine (its configured indexes and find-links): a local
    # CPU wheel becomes a one-package "simple" index for the build.
    python3 -m pip install --dry-run --no-deps --ignore-installed -q --report "$WORK/torch.json" "$TORCH_PIN" \
        >/dev/null 2>&1 || fail "pip cannot resolve $TORCH_PIN on this machine"
    url="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["install"][0]["download_info"]["url"])' "$WORK/torch.json")"
    wheel="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(u.unquote(p.path) if p.scheme == "file" else "")' "$url")"
    case "$wheel" in
    /*+cpu-*.whl) ;;
    *) fail "PyTorch's CPU index is unreachable and pip takes $TORCH_PIN from $url, not a local CPU wheel" ;;
    esac
    mkdir -p "$WORK/torch-index/torch"
    ln "$wheel" "$WORK/torch-index/torch/" 2>/dev/null || cp "$wheel" "$WORK/torch-index/torch/"
    name="$(basename "$wheel")"
    sha="$(sha256sum "$wheel" | cut -d' ' -f1)"
    printf '<!DOCTYPE html><html><body><a href="%s#sha256=%s">%s</a></body></html>\n' "$name" "$sha" "$name" \
        >"$WORK/torch-index/torch/index.html"
    say "CPU torch from $wheel (a local index for the build)"
    if [ "$ENGINE" = podman ]; then
        build_args+=(-v "$WORK/torch-index:/torch-index:ro" --build-arg TORCH_CPU_INDEX=file:///torch-index)
    else                                   # docker build has no -v: serve the index on loopback
        port=$(free_port)
        python3 -m http.server --bind 127.0.0.1 --directory "$WORK/torch-index" "$port" >/dev/null 2>&1 &
        SERVER_PID=$!
        build_args+=(--network host --build-arg "TORCH_CPU_INDEX=http://127.0.0.1:$port/")
    fi
fi
if [ "$ENGINE" = podman ]; then           # pip inside the build trusts what this host trusts (nothing is baked in)
    for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
        if [ -f "$ca" ]; then
            build_args+=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro")
            break
        fi
    done
fi
say "building $IMAGE (log: $WORK/build.log, shown on failure)"
# at most 25 min a try (about 8 min at load 20 here), so a stuck download cannot eat CI's 90 minutes
if ! retry 2 timeout 1500 "${NICE[@]}" "${BUILD[@]}" "${build_args[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    fail "the image did not build"
fi
size_bytes=$($ENGINE image inspect "$IMAGE" --format '{{.Size}}')
base_bytes=$($ENGINE image inspect "$BASE_IMAGE" --format '{{.Size}}')
say "image $IMAGE: $((size_bytes / 1000000)) MB ($BASE_IMAGE $((base_bytes / 1000000)) MB, the rest ours)"

# -------------------------------------------------------------------------------------------------------- run
phase run
PORT=$(free_port)
NAME="$TAG-app"
# (podman without systemd logs that it cannot schedule the health check: it is run by hand below)
$ENGINE run -d --name "$NAME" -p "127.0.0.1:$PORT:8501" "$IMAGE" >"$WORK/run.log" 2>&1 \
    || { cat "$WORK/run.log" >&2; fail "the container did not start"; }
wait_health() {                            # wait_health PORT CONTAINER
    local deadline=$(($(date +%s) + HEALTH_TIMEOUT)) body
    while [ "$(date +%s)" -lt $deadline ]; do
        body="$(curl -fsS --max-time 5 "http://127.0.0.1:$1/_stcore/health" 2>/dev/null || true)"
        [ "$body" = ok ] && return 0
        if [ "$($ENGINE inspect -f '{{.State.Running}}' "$2" 2>/dev/null)" != true ]; then
            $ENGINE logs --tail 30 "$2" >&2 || true
            fail "container $2 stopped before it was healthy"
        fi
        sleep 2
    done
    $ENGINE logs --tail 30 "$2" >&2 || true
    fail "no 'ok' from /_stcore/health on 127.0.0.1:$1 within ${HEALTH_TIMEOUT}s"
}
wait_health "$PORT" "$NAME"
say "health ok after $(($(date +%s) - PHASE_START))s"
if [ "$ENGINE" = podman ]; then
    podman healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK command failed"
fi
[ "$($ENGINE exec "$NAME" id -u)" = 1000 ] || fail "the app does not run as uid 1000"
# the code is read-only to the app user
if $ENGINE exec "$NAME" sh -c 'touch /app/app.py || touch /app/core/x' 2>/dev/null; then
    fail "the app user can write to /app's code"
fi

phase page
SMOKE_URL="http://127.0.0.1:$PORT/" "$PY" - <<'PYEOF' || fail "the home page did not render"
import os
import sys

from playwright.sync_api import TimeoutError, sync_playwright

from tests.e2e.browser import ARGS  # the browser tests' chromium flags (run from the repository root)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    try:
        page = browser.new_page()
        page.goto(os.environ["SMOKE_URL"], timeout=60_000)
        try:
            page.get_by_role("heading", name="SAR Studio").first.wait_for(timeout=90_000)
        except TimeoutError:
            sys.exit("no 'SAR Studio' heading on the home page within 90 s")
        errors = page.locator('[data-testid="stException"]').count()
        if errors:
            sys.exit(f"the home page shows {errors} exception box(es)")
    finally:
        browser.close()
print("home page rendered: heading 'SAR Studio'", file=sys.stderr)
PYEOF

phase pages
# Every page renders without an exception (AppTest inside the container), and every heavy library imports and
# does one small thing: the image's trimming (tests/ folders, stripped shared libraries) must not break any.
$ENGINE exec -i "$NAME" python - >"$WORK/pages.log" 2>&1 <<'PYEOF' || { tail -30 "$WORK/pages.log" >&2; fail "a page or library is broken in the image"; }
import os

import numpy as np

import cv2, onnx, onnxruntime, pyarrow as pa, rasterio, scipy.ndimage, skimage.filters, sympy  # noqa: E401
import dask.distributed, onnxscript, peft, rioxarray, transformers, xarray  # noqa: E401,F401
from onnx import TensorProto, helper
from rasterio.transform import from_origin

a = np.arange(64, dtype=np.float32).reshape(8, 8)
assert cv2.resize(a, (4, 4)).shape == (4, 4) and scipy.ndimage.uniform_filter(a, 3).shape == (8, 8)
assert skimage.filters.gaussian(a).shape == (8, 8) and sympy.simplify("x + x") == sympy.Symbol("x") * 2
assert pa.table({"a": [1, 2]}).num_rows == 2
with rasterio.open("/tmp/smoke.tif", "w", driver="GTiff", width=8, height=8, count=1, dtype="float32",
                   crs="EPSG:32633", transform=from_origin(0, 80, 10, 10)) as dst:
    dst.write(a, 1)
with rasterio.open("/tmp/smoke.tif") as src:
    assert (src.read(1) == a).all() and src.crs.to_epsg() == 32633
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
model = helper.make_model(helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
assert sess.run(None, {"x": np.array([2.0], np.float32)})[0][0] == -2.0

from streamlit.testing.v1 import AppTest
from pages.navigation import PAGES

for file, title, _icon, _url in PAGES:
    at = AppTest.from_file(os.path.abspath(file), default_timeout=300).run()
    assert not at.exception, f"{file}: {[e.message for e in at.exception]}"
    print(f"{file}: rendered ({title})")
PYEOF
say "$(grep -c rendered "$WORK/pages.log") pages render in the container; the heavy libraries work"

phase translate
$ENGINE exec "$NAME" python -m core translate samples/pairs/sar/synthetic_A_100000.png \
    /app/outputs/smoke_optical.png --model checkpoints/pix2pix_unet_demo.safetensors >"$WORK/translate.log" 2>&1 \
    || { tail -20 "$WORK/translate.log" >&2; fail "translate through the container's CLI failed"; }
$ENGINE exec "$NAME" python -c "
import sys
from PIL import Image
im = Image.open('/app/outputs/smoke_optical.png')
sys.exit(0 if im.size == (256, 256) and im.mode == 'RGB' else f'unexpected output {im.size} {im.mode}')
" || fail "the translated image is not a 256x256 RGB image"
$ENGINE rm -f "$NAME" >/dev/null 2>&1

# ---------------------------------------------------------------------------------------------------- compose
phase compose
# A copy that looks like a fresh checkout: the compose file and the folders it mounts, no outputs/ or runs/.
mkdir -p "$COMPOSE_DIR"
cp docker-compose.yml "$COMPOSE_DIR/"
cp -r checkpoints samples "$COMPOSE_DIR/"
rm -rf "$COMPOSE_DIR/checkpoints/.onnx-cache"
PORT=$(free_port)
(cd "$COMPOSE_DIR" && SAR_STUDIO_PORT=$PORT "${COMPOSE[@]}" -p "$TAG" up -d --no-build app) >"$WORK/compose.log" 2>&1 \
    || { tail -30 "$WORK/compose.log" >&2; fail "compose up failed"; }
APP="$($ENGINE ps -aq --filter "label=com.docker.compose.project=$TAG" --filter "label=com.docker.compose.service=app" | head -1)"
[ -n "$APP" ] || { tail -30 "$WORK/compose.log" >&2; fail "compose started no app container"; }
wait_health "$PORT" "$APP"
say "compose app healthy on 127.0.0.1:$PORT"

phase train
$ENGINE exec "$APP" python -m core train --task pix2pix --data samples/pairs --size 256 --width 8 --epochs 1 \
    --max-steps 2 --batch-size 2 --val-max 2 --threads 1 --run-dir runs/smoke >"$WORK/train.log" 2>&1 \
    || { tail -20 "$WORK/train.log" >&2; fail "training inside the compose app failed"; }
for f in config.json log.csv generator.safetensors; do
    [ -s "$COMPOSE_DIR/runs/smoke/$f" ] || fail "runs/smoke/$f did not appear on the host ($COMPOSE_DIR/runs)"
done
say "run folder on the host: $(ls "$COMPOSE_DIR/runs/smoke" | tr '\n' ' ')"
(cd "$COMPOSE_DIR" && "${COMPOSE[@]}" -p "$TAG" down -v -t 5) >>"$WORK/compose.log" 2>&1 \
    || { tail -20 "$WORK/compose.log" >&2; fail "compose down failed"; }

phase done
say "image $IMAGE: $((size_bytes / 1000000)) MB ($BASE_IMAGE $((base_bytes / 1000000)) MB, the rest ours)"
