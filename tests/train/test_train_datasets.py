"""Dataset layouts, pairing errors, seeded splits, augmentation and conversion to network input."""

import json

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from core.train import dataset_zip, layouts
from core.train import datasets as D


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _pair_arrays(rng, size=16):
    return rng.integers(0, 256, (size, size), dtype=np.uint8), rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def make_sen12_terrain(root, rng, n=5, split=False):
    names = []
    for terrain in ("agri", "urban"):
        for k in range(n):
            s, o = _pair_arrays(rng)
            name = f"ROIs1970_fall_s1_{k}_p{k + 10}.png"
            _png(root / terrain / "s1" / name, s)
            _png(root / terrain / "s2" / name.replace("_s1_", "_s2_"), o)
            names.append(f"{terrain}/s1/{name}")
    if split:
        (root / "split.json").write_text(
            json.dumps({"data": {"train": names[:6], "val": names[6:8], "test": names[8:]}})
        )
    return names


def test_every_layout_is_detected_and_paired(tmp_path, rng):
    # SEN1-2 by terrain
    make_sen12_terrain(tmp_path / "sen", rng)
    pairs, layout = layouts.find_pairs(tmp_path / "sen")
    assert layout == "sen12_terrain" and len(pairs) == 10
    assert all(p.optical.name == p.sar.name.replace("_s1_", "_s2_") and p.optical.parent.name == "s2" for p in pairs)
    # SEN1-2 original
    for k in range(3):
        s, o = _pair_arrays(rng)
        _png(tmp_path / "orig" / "ROIs1158_spring" / "s1_7" / f"ROIs1158_spring_s1_7_p{k}.png", s)
        _png(tmp_path / "orig" / "ROIs1158_spring" / "s2_7" / f"ROIs1158_spring_s2_7_p{k}.png", o)
    pairs, layout = layouts.find_pairs(tmp_path / "orig")
    assert layout == "sen12_original" and len(pairs) == 3 and pairs[0].optical.parent.name == "s2_7"
    # QXSLAB
    for k in range(4):
        s, o = _pair_arrays(rng)
        _png(tmp_path / "qx" / "sar_256_oc_0.2" / f"{k}.png", s)
        _png(tmp_path / "qx" / "opt_256_oc_0.2" / f"{k}.png", o)
    pairs, layout = layouts.find_pairs(tmp_path / "qx")
    assert layout == "qxslab" and [p.optical.name for p in pairs] == ["0.png", "1.png", "2.png", "3.png"]
    # pix2pixHD: paired by sorted order, test_ folders give the test split
    for phase, n in (("train", 3), ("test", 2)):
        for k in range(n):
            s, o = _pair_arrays(rng)
            _png(tmp_path / "hd" / f"{phase}_A" / f"a{k}.png", s)
            _png(tmp_path / "hd" / f"{phase}_B" / f"b{k}.png", o)
    pairs, layout = layouts.find_pairs(tmp_path / "hd")
    assert layout == "pix2pixhd" and [(p.sar.name, p.optical.name, p.split) for p in pairs][-1] == (
        "a1.png",
        "b1.png",
        "test",
    )
    # aligned A|B: left half SAR, right half optical
    s, o = _pair_arrays(rng)
    ab = np.concatenate([np.repeat(s[..., None], 3, 2), o], axis=1)
    _png(tmp_path / "ab" / "train" / "1.png", ab)
    pairs, layout = layouts.find_pairs(tmp_path / "ab")
    assert layout == "aligned"
    sar, opt = D.PairSource(pairs[0]).load()
    np.testing.assert_array_equal(sar[..., 0], s)
    np.testing.assert_array_equal(opt, o)


def test_unpaired_and_missing_images_are_named_in_one_sentence(tmp_path, rng):
    make_sen12_terrain(tmp_path / "sen", rng, n=5)
    for k in (1, 3):
        (tmp_path / "sen" / "urban" / "s2" / f"ROIs1970_fall_s2_{k}_p{k + 10}.png").unlink()
    with pytest.raises(UserError) as e:
        layouts.find_pairs(tmp_path / "sen")
    msg = str(e.value)
    assert msg.startswith(
        "2 of 5 SAR images in urban/s1/ have no optical partner in urban/s2/, first: "
        "urban/s1/ROIs1970_fall_s1_1_p11.png"
    )
    assert "\n" not in msg
    # an optical image without SAR partner is refused too, not silently skipped
    s, o = _pair_arrays(rng)
    _png(tmp_path / "f" / "sar" / "a.png", s)
    _png(tmp_path / "f" / "optical" / "a.png", o)
    _png(tmp_path / "f" / "optical" / "b.png", o)
    with pytest.raises(
        UserError, match=r"1 of 2 optical images in optical/ have no SAR partner in sar/, first: optical/b.png"
    ):
        layouts.find_pairs(tmp_path / "f")
    _png(tmp_path / "hd" / "train_A" / "a.png", s)
    _png(tmp_path / "hd" / "train_B" / "a.png", o)
    _png(tmp_path / "hd" / "train_B" / "b.png", o)
    with pytest.raises(UserError, match=r"train_A/ holds 1 images but train_B/ holds 2"):
        layouts.find_pairs(tmp_path / "hd")
    (tmp_path / "empty" / "stuff").mkdir(parents=True)
    with pytest.raises(UserError, match="matches no known dataset layout"):
        layouts.find_pairs(tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        layouts.find_pairs(tmp_path / "nowhere")


def test_split_json_is_honoured_and_seeded_splits_are_reproducible(tmp_path, rng):
    names = make_sen12_terrain(tmp_path / "sen", rng, split=True)
    pairs, _ = layouts.find_pairs(tmp_path / "sen")
    splits = layouts.split_pairs(pairs, seed=0)
    rel = {k: [p.sar.relative_to(tmp_path / "sen").as_posix() for p in v] for k, v in splits.items()}
    assert sorted(rel["train"]) == sorted(names[:6]) and sorted(rel["val"]) == sorted(names[6:8])
    assert sorted(rel["test"]) == sorted(names[8:])
    # without split.json: seeded, disjoint, complete
    (tmp_path / "sen" / "split.json").unlink()
    pairs, _ = layouts.find_pairs(tmp_path / "sen")
    a, b, c = (
        layouts.split_pairs(pairs, 1, 0.2, 0.2),
        layouts.split_pairs(pairs, 1, 0.2, 0.2),
        layouts.split_pairs(pairs, 2, 0.2, 0.2),
    )
    assert a == b and a != c
    assert sorted(len(v) for v in a.values()) == [2, 2, 6]
    allp = [p.sar for v in a.values() for p in v]
    assert len(set(allp)) == 10


def test_augmentation_moves_both_images_together_and_is_deterministic(rng):
    sar = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    opt = np.repeat(sar[..., None], 3, 2)
    ds = D.PairedDataset([D.ArraySource("x", sar, opt)], size=32, sar_channels=3, train=True, seed=5)
    seen = set()
    for epoch in range(8):
        s, o = ds.get(0, epoch)
        assert s.shape == (3, 32, 32) and o.shape == (3, 32, 32)
        assert (s == o).all()  # same crop, flip and rotation on both
        s2, _ = ds.get(0, epoch)
        assert (s2 == s).all()
        seen.add(s.numpy().tobytes())
    assert len(seen) > 4
    # value mapping: 0 -> -1, 255 -> +1, x/255*2-1
    t = D.unit_to_tensor(np.array([[[0, 51, 255]]], np.uint8))
    np.testing.assert_allclose(t.numpy().ravel(), [-1.0, 51 / 255 * 2 - 1, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(D.tensor_to_uint8(t), [[[0, 51, 255]]])


def test_float_sar_is_rendered_like_the_translation_page(tmp_path, rng):
    from core import io as sio

    inten = rng.gamma(1.0, 0.05, (24, 24)).astype(np.float32)
    opt = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    sio.write_geotiff(tmp_path / "ds" / "sar" / "a.tif", inten)
    _png(tmp_path / "ds" / "optical" / "a.png", opt)
    pairs, layout = layouts.find_pairs(tmp_path / "ds")
    sar, o = D.PairSource(pairs[0]).load()
    expected = sio.stretch(sio.to_db(inten))
    np.testing.assert_array_equal(sar, expected)
    np.testing.assert_array_equal(o, opt)
    # size mismatch between partners is refused
    _png(tmp_path / "ds" / "optical" / "a.png", opt[:20])
    with pytest.raises(UserError, match="pairs must have the same size"):
        D.PairSource(layouts.find_pairs(tmp_path / "ds")[0][0]).load()


def test_uploaded_zip_is_extracted_safely(tmp_path, rng):
    import io
    import stat
    import zipfile

    def zip_of(entries):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in entries:
                zf.writestr(name, data)
        return buf.getvalue()

    s, o = _pair_arrays(rng)
    png = {}
    for key, arr in (("s", s), ("o", o)):
        b = io.BytesIO()
        Image.fromarray(arr).save(b, format="PNG")
        png[key] = b.getvalue()
    good = zip_of(
        [
            ("mydata/sar/a.png", png["s"]),
            ("mydata/optical/a.png", png["o"]),
            ("mydata/notes.txt", b"x"),
            ("__MACOSX/mydata/._a.png", b"junk"),
        ]
    )
    root = dataset_zip.extract_zip(good, tmp_path / "x")
    assert root == tmp_path / "x" / "mydata"
    pairs, layout = layouts.find_pairs(root)
    assert layout == "folders" and len(pairs) == 1
    assert not (root / "notes.txt").exists() and not (tmp_path / "x" / "__MACOSX").exists()
    for bad in ("../evil.png", "/etc/evil.png", "mydata/../../evil.png"):
        with pytest.raises(UserError, match="unsafe path"):
            dataset_zip.extract_zip(zip_of([(bad, png["s"])]), tmp_path / "y")
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "y").exists()
    link = zipfile.ZipInfo("mydata/sar/b.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UserError, match="contains a link"):
        dataset_zip.extract_zip(buf.getvalue(), tmp_path / "z")
    with pytest.raises(UserError, match="is not a zip archive"):
        dataset_zip.extract_zip(b"not a zip", tmp_path / "w")
