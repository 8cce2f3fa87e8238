"""What a transband-SARgeneration user runs: a folder of content images, --init, index layer syntax, Gram files
with their own layers, L-BFGS on RGB content, the visualisation from the CLI, and a clear word on a wrong .pth."""

import numpy as np
import pytest
import torch

from core import crossband as cb
from core import io as sio
from core.cli import main
from core.errors import UserError
from tests.crossband.scenes import scene


def run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def folders(tmp_path, rng):
    content, style = tmp_path / "A", tmp_path / "B"
    for i in range(2):
        sio.write_png(content / f"x{i}.png", scene(rng, 48, 2.0))
        sio.write_png(style / f"ka{i}.png", scene(rng, 48, 4.0))
    return content, style


def test_content_folder_gives_one_result_per_image(folders, tmp_path, capsys):
    content, style = folders
    out = tmp_path / "results"
    code, stdout, err = run(
        ["crossband", str(content), str(out), "--style", str(style), "--steps", "2", "--quiet"], capsys
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["x0.png", "x1.png"]
    for name in ("x0", "x1"):
        a = sio.read_raster(out / f"{name}.png").data
        assert a.shape == (48, 48)
    assert stdout.count("2 adam steps") == 2


def test_init_noise_starts_from_noise_not_the_content(folders, tmp_path, capsys):
    content, style = folders
    src = content / "x0.png"
    outs = {}
    for init in ("content", "noise"):
        out = tmp_path / f"{init}.png"
        code, stdout, err = run(
            ["crossband", str(src), str(out), "--style", str(style), "--steps", "1", "--lr", "1e-6", "--init", init],
            capsys,
        )
        assert code == 0, err
        assert f"from the {init} image" in stdout
        outs[init] = sio.read_raster(out).data.astype(float)
    original = sio.read_raster(src).data.astype(float)
    # one tiny Adam step: the content start is still the content, the noise start is far from it
    assert np.abs(outs["content"] - original).mean() < 2
    assert np.abs(outs["noise"] - original).mean() > 20


def test_index_layer_syntax_maps_to_the_style_layer_names():
    ex = cb.make_extractor(None, 0)
    names = ex.style_layers  # random features: rand1 .. rand5
    assert cb.layers_from_text(ex, "1,3") == (names[1], names[3])
    assert cb.layers_from_text(ex, "rand2, 4") == ("rand2", names[4])
    assert cb.layers_from_text(ex, "") is None
    with pytest.raises(UserError, match="index 7 is out of range"):
        cb.layers_from_text(ex, "7")


def test_gram_file_with_indexed_non_default_layers_is_used_with_those_layers(folders, tmp_path, capsys):
    content, style = folders
    gram = tmp_path / "g.safetensors"
    code, stdout, err = run(["gram", str(style), str(gram), "--layers", "0,2"], capsys)
    assert code == 0, err
    ex = cb.make_extractor(None, 0)
    gs = cb.load_gram(gram, ex)
    assert list(gs.grams) == ["rand1", "rand3"]
    # the stored Gram is the mean of the images' Grams at those layers (independent: gram_matrix per image)
    imgs = [cb.read_display(p)[0] for p in sorted(style.iterdir())]
    with torch.no_grad():
        ref = []
        for im in imgs:
            f = ex.net(cb.as_rgb(cb.to_tensor(im)), ["rand3"])["rand3"]
            ref.append(cb.gram_matrix(f)[0])
    torch.testing.assert_close(gs.grams["rand3"], torch.stack(ref).mean(0), rtol=1e-4, atol=1e-8)
    out = tmp_path / "o.png"
    code, stdout, err = run(
        ["crossband", str(content / "x0.png"), str(out), "--style", str(gram), "--steps", "2", "--content-layers", "1"],
        capsys,
    )
    assert code == 0, err
    code, stdout, err = run(
        ["crossband", str(content / "x0.png"), str(out), "--style", str(gram), "--steps", "1", "--style-layers", "1"],
        capsys,
    )
    assert code == 2 and "has no Gram for rand2" in err


def test_lbfgs_on_rgb_content_runs_and_lowers_the_loss(rng):
    ex = cb.make_extractor(None, 0)
    rgb = np.stack([scene(rng, 48, 2.0) for _ in range(3)], -1)
    style = cb.style_from_image(scene(rng, 48, 5.0), ex)
    res = cb.generate_crossband(rgb, style, ex, cb.CrossbandOptions(steps=4, optimizer="lbfgs"))
    assert res.image.shape == (48, 48, 3)
    first, last = res.history[0], res.history[-1]
    assert last["total"] < first["total"]


def test_visualisation_from_the_cli_writes_a_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, stdout, err = run(
        ["crossband-visualise", str(out), "--layer", "1", "--channels", "0,1", "--size", "48", "--steps", "2"], capsys
    )
    assert code == 0, err
    assert "2 panels of rand2" in stdout
    grid = sio.read_raster(out).data
    assert grid.shape[1] >= 96  # two 48 px panels side by side
    code, stdout, err = run(
        ["crossband-visualise", str(out), "--layer", "rand1", "--gram-elements", "0-1", "--size", "48", "--steps", "1"],
        capsys,
    )
    assert code == 0 and "1 panels of rand1" in stdout


@pytest.mark.parametrize("payload", [b"not a checkpoint at all", "state_dict"])
def test_pth_that_is_not_a_gram_file_names_the_formats(tmp_path, payload):
    p = tmp_path / "latest_net_G.pth"
    if payload == "state_dict":
        torch.save({"model.1.weight": torch.zeros(2, 2)}, p)
    else:
        p.write_bytes(payload)
    with pytest.raises(UserError) as exc:
        cb.load_gram(p, cb.make_extractor(None, 0))
    msg = str(exc.value)
    assert "is not a" in msg and "Gram file" in msg
    assert ".safetensors" in msg and "latest_gram_trainTotal.pth" in msg
    assert "safetensors file" not in msg.split(";")[0]


# ------------------------------------------------------------------ transband's --style_source and Layer_N names


def test_style_source_real_uses_each_contents_partner(folders, tmp_path, capsys):
    content, style = folders
    out = tmp_path / "real"
    argv = ["crossband", str(content), str(out), "--style", str(style), "--steps", "2", "--quiet"]
    code, _, err = run([*argv, "--style_source", "real"], capsys)  # their spelling is accepted
    assert code == 0, err
    assert "style: ka0.png (real)" in err and "style: ka1.png (real)" in err
    for i in range(2):  # the same as a run with that one style image: independent of the folder machinery
        one = tmp_path / f"one{i}.png"
        single = ["crossband", str(content / f"x{i}.png"), str(one), "--style", str(style / f"ka{i}.png")]
        assert run([*single, "--steps", "2", "--quiet"], capsys)[0] == 0
        assert np.array_equal(sio.read_raster(out / f"x{i}.png").data, sio.read_raster(one).data)
    code, _, err = run([*argv, "--style-source", "total"], capsys)
    assert code == 0 and "style:" not in err  # total: one mean Gram, as before


def test_style_source_style_with_same_category(tmp_path, rng, capsys):
    a, b = tmp_path / "A", tmp_path / "B"
    for name in ("building_1", "water_2"):
        sio.write_png(a / f"{name}.png", scene(rng, 32, 2.0))
    for name in ("building_x", "water_y", "road_z", "road_w"):
        sio.write_png(b / f"{name}.png", scene(rng, 32, 4.0))
    contents = sorted(a.iterdir())
    for seed in range(5):
        picks = cb.style_images_for(contents, b, "style", same_category=True, seed=seed)
        assert [p.name for p in picks] == ["building_x.png", "water_y.png"]
    drawn = {p.name for s in range(20) for p in cb.style_images_for(contents, b, "style", seed=s)}
    assert len(drawn) == 4  # without --same-category any style image can be drawn
    sio.write_png(a / "farm_3.png", scene(rng, 32, 2.0))
    code, _, err = run(
        ["crossband", str(a), str(tmp_path / "o"), "--style", str(b), "--style-source", "style", "--same_category"],
        capsys,
    )
    assert code == 2 and "no style image of category 'farm'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["crossband", str(a), str(tmp_path / "o"), "--style", str(b), "--same-category"], capsys)
    assert code == 2 and "goes with --style-source style" in err


def test_transband_layer_names_map_to_torchvision_feature_indices():
    from models.vgg import vgg_for_depth

    for depth, expect in ((16, {3: "relu1_2", 8: "relu2_2", 15: "relu3_3", 22: "relu4_3"}),
                          (19, {3: "relu1_2", 8: "relu2_2", 17: "relu3_4", 26: "relu4_4", 35: "relu5_4"})):  # fmt: skip
        ex = cb.Extractor(vgg_for_depth(depth), f"vgg{depth}", "test", (), (), {})
        for n, name in expect.items():
            assert cb.layers_from_text(ex, f"Layer_{n}") == (name,)
    with pytest.raises(UserError, match="needs|give --vgg-weights"):
        cb.layers_from_text(cb.random_extractor(0), "Layer_15")
