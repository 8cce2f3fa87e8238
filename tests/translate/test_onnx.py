"""ONNX: export (opset 17, dynamic batch / H / W, one file, checked), ONNX Runtime agrees with PyTorch, bad files refused."""

import numpy as np
import onnx
import pytest
import torch

from core import io as sio
from core.cli import main as cli_main
from core.errors import UserError
from core.onnx import export_onnx, make_session
from core.onnx.inspect_file import inspect_onnx
from core.translate import TranslateOptions, Translator, translate_raster
from core.translate import generators as gn
from models.registry import build
from tests.support.generators import _randomise


@pytest.fixture(scope="module")
def unet_pth(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = _randomise(build("sar2optical_unet", {"width": 4}), seed=11)
    path = d / "pix2pix_gen_180.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_export_cli_writes_one_dynamic_opset17_file_that_matches_pytorch(tmp_path, unet_pth, capsys):
    path, model = unet_pth
    out = tmp_path / "gen.onnx"
    assert cli_main(["export-onnx", "--model", str(path), str(out)]) == 0
    assert "max |ONNX - PyTorch|" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["gen.onnx"]  # one file, no external .data, no temp left
    m = onnx.load(str(out))
    assert next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == 17
    info = inspect_onnx(out)
    assert info.input_name == "input" and info.channels == 3
    assert info.fixed_batch is None and info.fixed_hw is None  # dynamic batch, height and width
    assert info.metadata["arch"] == "sar2optical_unet" and info.size_multiple == 256
    session, provider, note = make_session(out, "cpu")
    assert provider == "CPUExecutionProvider" and note is None
    x = torch.rand(2, 3, 256, 512) * 2 - 1  # another batch and width than traced
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert got.shape == (2, 3, 256, 512)
    assert np.abs(got - ref).max() * 127.5 < 1.0  # within one grey level


def test_onnx_and_pytorch_backends_agree_within_one_grey_level(tmp_path, unet_pth, rng):
    path, _ = unet_pth
    out = tmp_path / "gen.onnx"
    export_onnx(gn.load_generator(path).model, out, normalization=gn.translation_normalization(3))
    raster = sio.Raster((rng.random((300, 420)) * 255).astype(np.uint8), "display", "x.png")
    torch_res = translate_raster(raster, Translator(gn.load_generator(path), TranslateOptions(device="cpu")))
    onnx_t = Translator(gn.load_generator(out), TranslateOptions(backend="onnx", device="cuda"))
    onnx_res = translate_raster(raster, onnx_t)
    assert onnx_res.output.shape == (300, 420, 3)
    assert np.abs(onnx_res.output.astype(int) - torch_res.output).max() <= 1
    assert any("provider in use: CPUExecutionProvider" in n for n in onnx_t.notes)
    if "CUDAExecutionProvider" not in onnx_t.session.get_providers():
        assert any("CUDA was requested" in n for n in onnx_t.notes)
    # the ONNX backend with a .pth model exports on the fly and gives the same pixels
    on_the_fly = Translator(gn.load_generator(path), TranslateOptions(backend="onnx", device="cpu"))
    res = translate_raster(raster, on_the_fly)
    assert np.abs(res.output.astype(int) - torch_res.output).max() <= 1
    on_the_fly.close()


def test_fixed_shape_onnx_like_sar2optical_export(tmp_path):
    """SAR2Optical's own torch2onnx writes input [1, 3, 256, 256]: tiles are fixed at 256, one per run."""
    torch.manual_seed(2)
    model = _randomise(build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1}), seed=2)
    out = tmp_path / "fixed.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, 256, 256),),
            str(out),
            input_names=["input"],
            output_names=["output"],
            opset_version=17,
            dynamo=False,
        )
    gen = gn.load_generator(out)
    assert gen.onnx.fixed_hw == (256, 256) and gen.onnx.fixed_batch == 1 and gen.native_tile == 256
    t = Translator(gen, TranslateOptions(batch_size=4))
    raster = sio.Raster(np.full((300, 200), 128, np.uint8), "display", "x.png")
    assert translate_raster(raster, t).output.shape == (300, 200, 3)
    with pytest.raises(UserError, match="only takes 256x256 inputs"):
        Translator(gen, TranslateOptions(tile=512)).tile_size()
    with pytest.raises(UserError, match="LoRA adapters apply to PyTorch checkpoints"):
        Translator(gen, TranslateOptions(adapter=str(tmp_path)))


def test_merged_lora_exports_like_the_adapted_model(tmp_path):
    from core.lora import add_lora, apply_adapter, save_adapter

    torch.manual_seed(4)
    base = _randomise(build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1}), seed=4)
    pth = tmp_path / "g.pth"
    torch.save(base.state_dict(), pth)
    trained = add_lora(build("pix2pixhd_global", {"ngf": 4, "n_downsample": 2, "n_blocks": 1}), rank=2, alpha=4)
    with torch.no_grad():
        for n, p in trained.named_parameters():
            if ".lora_B." in n:
                p.normal_(0, 0.3)
    folder = save_adapter(trained, tmp_path / "adapter")
    out = tmp_path / "merged.onnx"
    assert cli_main(["export-onnx", "--model", str(pth), "--lora", str(folder), str(out)]) == 0
    adapted, _ = apply_adapter(gn.load_generator(pth).model, folder)
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    session, _, _ = make_session(out, "cpu")
    with torch.no_grad():
        ref, plain = adapted(x).numpy(), base(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-3 and np.abs(got - plain).max() > 1e-2


def test_bad_onnx_files_are_refused(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not protobuf" * 20)
    with pytest.raises(UserError, match="junk.onnx is not a (readable|valid) ONNX"):
        gn.load_generator(junk)
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 3, 8, 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two_inputs", [a, b], [y])
    two = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(two))
    with pytest.raises(UserError, match="two.onnx has 2 inputs"):
        gn.load_generator(two)
    assert cli_main(["export-onnx", "--model", str(two), str(tmp_path / "x.onnx")]) == 2
