# SAR Studio. CPU image by default; GPU image with --build-arg VARIANT=gpu (see README "Docker").
# podman: build with `--format docker`, otherwise SHELL and HEALTHCHECK are dropped.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# cpu: CPU build of torch from PyTorch's CPU wheel index (alone: --index-url, so an unreachable index fails the build
#      instead of pip quietly taking PyPI's multi-GB CUDA build), onnxruntime (CPU).
# gpu: CUDA build of torch from PyPI, onnxruntime-gpu INSTEAD of onnxruntime (never both: they share a folder), at
#      the version requirements.txt pins for onnxruntime: one version for both variants.
ARG VARIANT=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    SAR_STUDIO_RUNS=/app/runs

WORKDIR /app
COPY requirements.txt requirements-nodeps.txt ./
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# One layer, so that nothing removed here stays in the image:
# - libgomp1: OpenMP runtime for torch/opencv on slim images (not version-pinned: Debian's security updates within
#   the base image's release are wanted); binutils only for `strip`, purged at the end; apt's lists and caches go.
# - torch first and alone (see VARIANT above), then the pins, then the --no-deps data packages; the CPU variant
#   checks it got a CPU torch.
# - what the app never runs goes: torch's C++ test binaries and headers, every package's tests/ folders, the
#   symbol tables of torch's two big libraries (`strip --strip-unneeded` keeps what the dynamic linker uses; 97 MB).
#   Only those: libraries that auditwheel patched (numpy's OpenBLAS, ...) no longer load once stripped.
# - byte-compile last (pip's own compile is off): all but transformers' 300 model folders (peft imports none) and
#   sympy (only ONNX export uses it); together about 35 MB of .pyc that would never be read.
# DL3013: "$TORCH_PIN" is requirements.txt's own torch==X.Y.Z line.
# hadolint ignore=DL3008,DL3013
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 binutils \
    && TORCH_PIN="$(grep '^torch==' requirements.txt)" \
    && ORT_VERSION="$(sed -n 's/^onnxruntime==//p' requirements.txt)" \
    && if [ "$VARIANT" = "gpu" ]; then \
        grep -v '^onnxruntime==' requirements.txt > /tmp/requirements.txt \
        && echo "onnxruntime-gpu==${ORT_VERSION}" >> /tmp/requirements.txt; \
    else \
        cp requirements.txt /tmp/requirements.txt \
        && pip install --no-compile --no-deps --index-url "$TORCH_CPU_INDEX" "$TORCH_PIN"; \
    fi \
    && pip install --no-compile -r /tmp/requirements.txt \
    && pip install --no-compile --no-deps -r requirements-nodeps.txt \
    && if [ "$VARIANT" != "gpu" ]; then \
        python -c "import sys, torch; sys.exit(0 if torch.version.cuda is None else 'CPU image got a CUDA torch')"; \
    fi \
    && SITE="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf "$SITE/torch/test" "$SITE/torch/include" /tmp/requirements.txt \
    && find "$SITE/torch/bin" -type f ! -name torch_shm_manager -delete \
    && find "$SITE" -mindepth 2 -type d -name tests -prune -exec rm -rf {} + \
    && strip --strip-unneeded "$SITE"/torch/lib/libtorch_cpu.so "$SITE"/torch/lib/libtorch_python.so \
    && apt-get purge -y --auto-remove binutils \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && { python -m compileall -qq -j 0 -x '/transformers/models/|/sympy/' "$SITE" || true; }

# The code belongs to root and is read-only to the app user (uid 1000); only outputs/ and runs/ are its own.
RUN useradd --create-home --uid 1000 sar
COPY . .
RUN mkdir -p /app/outputs /app/runs && chown sar:sar /app/outputs /app/runs \
    && python scripts/make_samples.py --if-missing \
    && chmod 0755 scripts/docker_entrypoint.sh scripts/docker_volumes.sh
USER 1000:1000

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]
# The entrypoint checks that outputs/ and runs/ are writable (mounted folders owned by root are the usual
# trap) and says so in one line, then runs the command.
ENTRYPOINT ["/app/scripts/docker_entrypoint.sh"]
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
