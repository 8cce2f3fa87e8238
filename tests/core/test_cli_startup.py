"""Start-up of the command line (issue 24): `--help` imports no command module, `CMD --help` only CMD's, and the
table of commands in core.cli matches what each module defines."""

from __future__ import annotations

import json
import subprocess
import sys

from core.cli import COMMANDS, build_parser
from tests.support.scale_scene import ROOT

PROBE = """
import contextlib, io, json, sys
from core.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("core.cli.") or m.split(".")[0] in
      ("torch", "onnxruntime", "numpy", "rasterio", "peft", "distributed", "cv2", "scipy", "PIL"))))
"""


def _loaded(*argv: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


# core.cli.args is the parser class and argument types every command shares (stdlib only), not a command module
SHARED = {"core.cli.args"}


def test_help_imports_no_command_module_nor_numpy():
    assert _loaded("--help") - SHARED == set()


def test_a_commands_help_imports_only_its_module_and_no_torch():
    loaded = _loaded("despeckle", "--help")
    assert {m for m in loaded if m.startswith("core.cli.")} - SHARED == {
        "core.cli.speckle",
        "core.cli.options",
        "core.cli.map_options",
    }
    assert not {"torch", "onnxruntime", "peft", "distributed"} & loaded
    assert "cv2" not in loaded  # OpenCV (~25 MB) on first window sum only (core.local_stats.opencv)


def test_help_of_the_model_commands_loads_no_scipy_nor_pillow():
    """train's options read core.train.synthetic's SENSORS (scipy only when a scene is drawn); translate and
    superres load core.cards and core.superres.inputs (Pillow only when a band is burned or an image resized)."""
    for command in ("train", "translate", "superres"):
        assert not {"scipy", "PIL", "torch", "rasterio"} & _loaded(command, "--help"), command


def test_every_row_of_the_table_is_defined_by_its_module_with_the_same_help():
    full = build_parser("*")
    sub = next(a for a in full._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert set(sub.choices) == set(COMMANDS)
    for name, (_, text) in COMMANDS.items():
        assert " ".join(helps[name].split()) == " ".join(text.split()), name


HOME = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("pages/home.py", default_timeout=120).run()
print(json.dumps({"heavy": [m for m in ("torch", "onnxruntime", "peft") if m in sys.modules],
                  "metrics": [m.value for m in at.metric], "errors": len(at.exception)}))
"""


def test_home_page_shows_versions_without_importing_torch_or_onnxruntime():
    from importlib import metadata

    out = subprocess.run([sys.executable, "-c", HOME], cwd=ROOT, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["errors"] == 0 and got["heavy"] == []
    assert metadata.version("torch") in got["metrics"] and metadata.version("onnxruntime") in got["metrics"]


CATALOG = """
import json, sys
from core import catalog
names = [p.name for p in catalog.translation_models()]
print(json.dumps({"names": names, "torch": "torch" in sys.modules}))
"""


def test_listing_the_bundled_translation_models_does_not_import_torch():
    from core import catalog
    from core.checkpoints import FORMAT, read_metadata
    from models.registry import names

    out = subprocess.run([sys.executable, "-c", CATALOG], cwd=ROOT, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch"] is False
    # the same list as the registry's own answer (networks imported, torch loaded in this process)
    want = []
    for p in sorted(catalog.checkpoints_dir().iterdir()):
        if p.suffix == ".safetensors":
            meta = read_metadata(p)
            if meta.get("format") == FORMAT and meta.get("arch") not in names("translate"):
                continue
        if p.is_file() and p.suffix in catalog.MODEL_SUFFIXES:
            want.append(p.name)
    assert got["names"] == want
    assert "pix2pix_unet_demo.safetensors" in got["names"] and "rgtgan_demo.safetensors" not in got["names"]


MODEL_PAGE = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300).run()
layers = [m.options for m in at.multiselect if m.label == "Content layers"]
print(json.dumps({"heavy": [m for m in ("torch", "onnxruntime", "peft") if m in sys.modules],
                  "captions": [c.value for c in at.caption], "layers": layers,
                  "errors": [str(e.value) for e in at.exception] + [e.value for e in at.error]}))
"""


def _first_render(page: str) -> dict:
    """The first render of a page in a fresh process (what this process imported cannot hide what it imports)."""
    argv = [sys.executable, "-c", MODEL_PAGE, f"pages/{page}.py"]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_model_pages_first_render_describes_the_model_without_torch_onnxruntime_or_peft():
    """translate, superres and crossband show what their model is before Run from file metadata and the networks'
    declarations; the same facts as loading and building the model (done here, in this process, with torch)."""
    from core import catalog
    from core.crossband import random_extractor
    from core.superres import load_superres_model
    from core.translate.generators import load_generator

    got = {page: _first_render(page) for page in ("translate", "superres", "crossband")}
    for page, g in got.items():
        assert g["errors"] == [] and g["heavy"] == [], page
    first = catalog.translation_models()[0]  # the page's default choice
    gen = load_generator(first)
    assert (
        f"{first.name}: {gen.description}; input multiple of {gen.size_multiple} px, default tile {gen.native_tile} px."
    ) in got["translate"]["captions"]
    _, described = load_superres_model(ROOT / "checkpoints" / "rgtgan_demo.safetensors")
    assert any(c.startswith(f"Model: {described}. Device: auto") for c in got["superres"]["captions"])
    built = random_extractor(0).net  # seed 0 is the page's default
    assert got["crossband"]["layers"] == [built.names]
