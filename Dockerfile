# SAR Studio. CPU image by default; GPU image with --build-arg VARIANT=gpu (see README "Docker").
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# cpu: CPU build of torch from PyTorch's CPU wheel index, onnxruntime (CPU).
# gpu: CUDA build of torch from PyPI, onnxruntime-gpu INSTEAD of onnxruntime (never both: they share a folder).
ARG VARIANT=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG ORT_GPU_VERSION=1.31.1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    SAR_STUDIO_RUNS=/app/runs

# libgomp1: OpenMP runtime for torch/opencv on slim images. Not version-pinned: Debian's security updates
# within the base image's release are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-nodeps.txt ./
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN if [ "$VARIANT" = "gpu" ]; then \
        grep -v '^onnxruntime==' requirements.txt > /tmp/requirements-gpu.txt \
        && echo "onnxruntime-gpu==${ORT_GPU_VERSION}" >> /tmp/requirements-gpu.txt \
        && pip install -r /tmp/requirements-gpu.txt; \
    else \
        pip install --extra-index-url "$TORCH_CPU_INDEX" -r requirements.txt; \
    fi \
    && pip install --no-deps -r requirements-nodeps.txt

RUN useradd --create-home --uid 1000 sar
COPY --chown=sar:sar . .
RUN mkdir -p /app/outputs /app/runs && chown sar:sar /app/outputs /app/runs \
    && python scripts/make_samples.py --if-missing
USER 1000:1000

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]
CMD ["python", "-m", "streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
