"""Cross-band engine: Gram, Gram files (ours and transband's), style loss falling, size limits, visualisation."""

import json

import numpy as np
import pytest
import torch

from core import crossband as cb
from core import io as sio
from core.errors import UserError
from tests.crossband.scenes import scene
from tests.support.vgg_state import TV_VGG19_CONVS, torchvision_state


@pytest.fixture(scope="module")
def rand_ex():
    return cb.random_extractor(0)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg19-test.pth"
    torch.save(torchvision_state(TV_VGG19_CONVS, with_classifier=False, seed=5), path)
    return path


def test_gram_equals_per_element_loop(rng):
    f = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    got = cb.gram_matrix(torch.from_numpy(f)).numpy()
    n, c, h, w = f.shape
    ref = np.zeros((n, c, c))
    for b in range(n):
        for i in range(c):
            for j in range(c):
                s = 0.0
                for y in range(h):
                    for x in range(w):
                        s += float(f[b, i, y, x]) * float(f[b, j, y, x])
                ref[b, i, j] = s / (c * h * w)
    assert np.allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_gram_gradient_equals_autograd_of_the_plain_product():
    f = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 3, dtype=torch.float64)
    (cb.gram_matrix(f) * w).sum().backward()
    ours = f.grad.clone()
    f.grad = None
    flat = f.reshape(2, 3, 20)
    ((flat @ flat.transpose(1, 2) / 60) * w).sum().backward()
    assert torch.allclose(ours, f.grad, atol=1e-12)
    assert torch.autograd.gradcheck(cb.gram_matrix, (torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True),))


def test_grey_input_equals_rgb_copy(rand_ex, vgg_file):
    x = torch.rand(1, 1, 48, 48) * 2 - 1
    for net in (rand_ex.net, cb.load_vgg(vgg_file).net):
        names = ["rand1", "rand3"] if net.arch_name == "random_features" else ["relu1_2", "relu3_4"]
        a, b = net(x, names), net(x.expand(-1, 3, -1, -1), names)
        for k in names:
            assert torch.allclose(a[k], b[k], atol=1e-5)


def test_band_display_is_db_with_percentile_stretch(rng):
    inten = rng.gamma(1.0, 0.1, (40, 50)).astype(np.float32)
    raster = sio.Raster(data=np.stack([inten, inten * 0.2], -1), kind="intensity", name="x.tif")
    got = cb.band_display(raster, 1)
    db = 10 * np.log10(inten * 0.2)
    lo, hi = np.percentile(db, [2, 98])
    ref = np.rint(np.clip((db - lo) / (hi - lo) * 255, 0, 255)).astype(np.uint8)
    assert np.abs(got.astype(int) - ref).max() <= 1
    with pytest.raises(UserError, match="band 3 does not exist"):
        cb.band_display(raster, 2)


def test_folder_gram_is_the_mean_of_image_grams(rand_ex, rng, tmp_path):
    imgs = [scene(rng, 64), scene(rng, 48), scene(rng, 56, 2.0)]
    for i, im in enumerate(imgs):
        sio.write_png(tmp_path / f"t{i}.png", im)
    gs = cb.gram_from_folder(tmp_path, rand_ex)
    assert gs.count == 3 and gs.layers == tuple(rand_ex.net.names)
    for layer in ("rand1", "rand4"):
        ref = np.zeros_like(gs.grams[layer].numpy(), dtype=np.float64)
        for im in imgs:  # features from the network, Gram by numpy
            f = rand_ex.net(torch.from_numpy(im.astype(np.float32) / 127.5 - 1)[None, None], [layer])[layer][0]
            f = f.detach().numpy().astype(np.float64)
            c = f.shape[0]
            flat = f.reshape(c, -1)
            ref += flat @ flat.T / flat.size / len(imgs)
        assert np.allclose(gs.grams[layer].numpy(), ref, rtol=1e-4, atol=1e-9)


def test_our_gram_file_round_trip_and_feature_check(rand_ex, rng, tmp_path):
    gs = cb.style_from_image(scene(rng), rand_ex)
    path = cb.write_gram(tmp_path / "g.safetensors", gs)
    back = cb.load_gram(path, rand_ex)
    for k in gs.grams:
        assert torch.equal(back.grams[k], gs.grams[k])
    with pytest.raises(UserError, match="same seed"):
        cb.load_gram(path, cb.random_extractor(1))


def test_transband_list_of_tensors_loads(vgg_file, rng, tmp_path):
    vgg = cb.load_vgg(vgg_file)
    assert vgg.arch == "vgg19" and "VGG19" in vgg.label
    g = torch.Generator().manual_seed(0)
    tensors = [torch.rand(1, c, c, generator=g) for c in (64, 128, 256, 512, 512)]
    path = tmp_path / "latest_gram_trainTotal.pth"
    torch.save([t.clone().requires_grad_() * 1.0 for t in tensors], path)  # saved from a graph, as it may be
    gs = cb.load_gram(path, vgg)
    assert not any(t.requires_grad for t in gs.grams.values())
    assert gs.layers == ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
    for t, layer in zip(tensors, gs.layers):
        assert torch.equal(gs.grams[layer], t[0])
    # and it drives a (short) generation on VGG19
    res = cb.generate_crossband(scene(rng, 32), gs, vgg, cb.CrossbandOptions(steps=1, device="cpu"))
    assert res.image.shape == (32, 32) and len(res.history) == 1
    # our writer produces the same layout back
    out = cb.save_transband_gram(tmp_path / "again.pth", gs)
    again = torch.load(out, weights_only=True)
    assert [tuple(t.shape) for t in again] == [(1, c, c) for c in (64, 128, 256, 512, 512)]


def test_transband_gram_needs_vgg19_and_right_shapes(rand_ex, tmp_path):
    path = tmp_path / "gram.pth"
    torch.save([torch.zeros(1, c, c) for c in (64, 128, 256, 512, 512)], path)
    with pytest.raises(UserError, match="transband Gram file of VGG19 features"):
        cb.load_gram(path, rand_ex)
    torch.save([torch.zeros(1, 64, 64)], path)
    with pytest.raises(UserError, match=r"not transband's 5 Gram matrices"):
        cb.load_gram(path, rand_ex)
    torch.save({"not": "tensors", "obj": object.__class__}, path)
    with pytest.raises(UserError):
        cb.load_gram(path, rand_ex)


def test_vgg_weights_file_errors(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(UserError, match="does not hold torchvision VGG16 or VGG19 features"):
        cb.load_vgg(bad)
    with pytest.raises(UserError, match="not found"):
        cb.load_vgg(tmp_path / "missing.pth")


@pytest.mark.parametrize("optimizer,steps", [("adam", 24), ("lbfgs", 5)])
def test_style_loss_falls_as_steps_go(rand_ex, rng, optimizer, steps):
    content = scene(rng, 48, contrast=0.5)
    style_img = scene(rng, 48, contrast=3.0)
    style = cb.style_from_image(style_img, rand_ex)
    previews = []
    res = cb.generate_crossband(
        content,
        style,
        rand_ex,
        cb.CrossbandOptions(steps=steps, optimizer=optimizer, device="cpu", preview_every=10),
        on_preview=lambda s, im, h: previews.append((s, im.shape)),
    )
    h = [r["style"] for r in res.history]
    assert h[-1] < 0.5 * h[0]
    assert min(h[len(h) // 2 :]) < min(h[: len(h) // 2])  # still falling in the second half
    # independently recomputed on the written uint8 images
    before = cb.final_losses(content, content, style, rand_ex, style.layers, ["rand2"])
    after = cb.final_losses(res.image, content, style, rand_ex, style.layers, ["rand2"])
    assert after["style"] < 0.5 * before["style"]
    assert before["content"] == 0.0 and after["content"] > 0
    assert previews and previews[-1] == (steps, (48, 48))


def test_size_limits(rand_ex, rng):
    style = cb.style_from_image(scene(rng), rand_ex)
    with pytest.raises(UserError, match="at least 48 pixels"):
        cb.generate_crossband(scene(rng, 32), style, rand_ex, cb.CrossbandOptions(steps=1))
    with pytest.raises(UserError, match=r"above the cross-band limit of 0.001 GB"):
        cb.generate_crossband(scene(rng, 64), style, rand_ex, cb.CrossbandOptions(steps=1, memory_gb=0.001))


def test_threads_option_is_applied_and_restored(rand_ex, rng):
    import torch

    style = cb.style_from_image(scene(rng, 48), rand_ex)
    seen = []
    before = torch.get_num_threads()
    cb.generate_crossband(
        scene(rng, 48),
        style,
        rand_ex,
        cb.CrossbandOptions(steps=1, threads=2),
        progress=lambda f, m: seen.append(torch.get_num_threads()),
    )
    assert seen == [2] and torch.get_num_threads() == before
    with pytest.raises(UserError, match="CPU threads must be at least 1"):
        cb.generate_crossband(scene(rng, 48), style, rand_ex, cb.CrossbandOptions(steps=1, threads=0))


def test_option_errors(rand_ex, rng):
    style = cb.style_from_image(scene(rng), rand_ex)
    with pytest.raises(UserError, match="content layer relu4_4 does not exist"):
        cb.generate_crossband(scene(rng), style, rand_ex, cb.CrossbandOptions(content_layers=("relu4_4",)))
    with pytest.raises(UserError, match="unknown optimizer"):
        cb.generate_crossband(scene(rng), style, rand_ex, cb.CrossbandOptions(optimizer="sgd"))


def test_visualisation_raises_the_chosen_channel_and_gram_element(rand_ex):
    net = rand_ex.net
    panels = cb.channel_images(rand_ex, "rand2", [0, 5], size=64, steps=15)
    assert [p[0] for p in panels] == ["rand2 ch 0", "rand2 ch 5"] and panels[0][1].shape == (64, 64)
    gen = torch.Generator().manual_seed(0)  # the same start as channel_images, at the contrast the network sees
    start = torch.randn(2, 1, 64, 64, generator=gen)
    start = ((start - start.mean(dim=(2, 3), keepdim=True)) / start.std(dim=(2, 3), keepdim=True) * 0.5).clamp(-1, 1)
    for (_label, img), ch, s in zip(panels, [0, 5], start):
        # the image shown is what the network saw (zero mean, fixed contrast); its channel responds far more
        x = torch.from_numpy(img.astype(np.float32) / 127.5 - 1)[None, None]
        assert net(x, ["rand2"])["rand2"][0, ch].mean() > 2 * net(s[None], ["rand2"])["rand2"][0, ch].mean()
    pairs = cb.gram_element_images(rand_ex, "rand1", [(1, 2)], size=64, steps=15)
    assert pairs[0][0] == "rand1 G[1,2]"
    x = torch.from_numpy(pairs[0][1].astype(np.float32) / 127.5 - 1)[None, None]
    g_after = cb.gram_matrix(net(x, ["rand1"])["rand1"])[0, 1, 2]
    g_start = cb.gram_matrix(net(start[:1], ["rand1"])["rand1"])[0, 1, 2]
    assert g_after > 2 * g_start
    with pytest.raises(UserError, match="channels 0 to 63"):
        cb.channel_images(rand_ex, "rand2", [64])
    png = cb.grid_png(panels)
    assert png[:4] == b"\x89PNG"


def test_index_syntax_of_the_visualisation_page():
    assert cb.parse_channels(" 3, 0,12,") == [3, 0, 12]
    assert cb.parse_pairs("0-1, 2-3") == [(0, 1), (2, 3)]
    with pytest.raises(UserError, match="whole numbers"):
        cb.parse_channels("1,a")
    with pytest.raises(UserError, match="whole numbers"):
        cb.parse_pairs("0-x")
    with pytest.raises(UserError, match="i-j pairs"):
        cb.parse_pairs("0-1-2")


def test_layer_names_offered_are_the_activations(rand_ex):
    assert cb.layer_names(rand_ex) == [n for n in rand_ex.net.names if n.startswith(("relu", "rand"))]
    assert cb.layer_names(rand_ex) and set(rand_ex.style_layers) <= set(cb.layer_names(rand_ex))


def test_random_features_described_without_the_network_match_the_built_one():
    """What the page lists before anything runs (layers, channels, the identity a Gram file records) against the
    network built for the same seed, directly from models/random_features.py."""
    from models.random_features import RandomFeatures

    for seed in (0, 7):
        ex = cb.random_extractor(seed)
        assert ex.network is None  # described, not built
        static = (ex.names, [ex.channels(n) for n in ex.names], ex.identity())
        assert ex.network is None
        net = RandomFeatures(seed=seed)
        assert static[0] == net.names and static[1] == [net.channels(n) for n in net.names]
        assert static[2] == {"arch": "random_features", "config": json.loads(json.dumps(net.config))}
        assert torch.equal(ex.net.bank(2).weight, net.bank(2).weight)  # built on first use: the same filters


def test_gram_files_of_a_folder_by_suffix(tmp_path):
    for name in ["b.pth", "a.safetensors", "c.PT", "d.png", ".hidden.pth", "e.txt"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "f.pth").mkdir()
    assert [p.name for p in cb.list_gram_files(tmp_path)] == ["a.safetensors", "b.pth", "c.PT"]
    assert cb.list_gram_files(tmp_path / "missing") == []


def test_images_key_follows_pixels_and_shape_not_names():
    a = np.zeros((4, 6), np.uint8)
    b = a.copy()
    b[1, 2] = 1
    assert cb.images_key([("x", a)]) == cb.images_key([("y", a.copy())])
    assert cb.images_key([("x", a)]) != cb.images_key([("x", b)])
    assert cb.images_key([("x", a)]) != cb.images_key([("x", a.reshape(6, 4))])


def test_loss_chart_rows_are_log10_of_the_weighted_losses():
    history = [{"step": 1, "style": 2e-3, "content": 0.0}, {"step": 2, "style": 1e-3, "content": 0.5}]
    rows = cb.loss_log_rows(history, 1e5, 2.0)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["log10 style loss × weight"] == pytest.approx(np.log10(200.0))
    assert rows[0]["log10 content loss × weight"] is None  # a zero loss has no logarithm
    assert rows[1]["log10 content loss × weight"] == pytest.approx(0.0)
