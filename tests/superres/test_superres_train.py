"""Super-resolution trainer: synthetic triples, the untrained model is bicubic, a few GAN steps run."""

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.superres import inputs as sri
from core.superres.train import SRTrainConfig, example_tensors, make_sr_example, train_superres

TINY = dict(
    ngf=8,
    n_blocks=1,
    groups=2,
    gtem_nf=4,
    gtem_blocks=1,
    align_tail_blocks=0,
    dense_rounds=1,
    dense_steps=1,
    with_unused=False,
)


def test_triples_are_deterministic_and_lr_is_the_hr_downsampled():
    a, b = make_sr_example(7, lr_size=8), make_sr_example(7, lr_size=8)
    np.testing.assert_array_equal(a.ref, b.ref)
    assert a.lr.shape == (8, 8, 3) and a.hr.shape == a.ref.shape == (32, 32, 3)
    np.testing.assert_allclose(a.lr, np.clip(sri.resize_bicubic(a.hr, 8, 8), 0, 1), atol=1e-6)


def test_reference_is_another_view_of_the_same_place():
    ex = make_sr_example(3, lr_size=16, max_shift=0.0, max_rotation=0.0)
    assert np.abs(ex.ref - ex.hr).mean() > 0.01  # re-coloured, another variant
    grad = lambda x: np.hypot(*np.gradient(x.mean(-1)))  # noqa: E731
    assert np.corrcoef(grad(ex.ref).ravel(), grad(ex.hr).ravel())[0, 1] > 0.5  # same edges
    moved = make_sr_example(3, lr_size=16)  # shifted and rotated: same scene, other footprint
    assert np.corrcoef(grad(moved.ref).ravel(), grad(ex.hr).ravel())[0, 1] < 0.5


def test_untrained_model_is_exactly_bicubic():
    model, hist = train_superres(SRTrainConfig(model=TINY, steps=0, train_pool=2, lr_size=8))
    assert hist["steps_done"] == 0
    lr, lr_up, ref, ref_dup, _ = example_tensors([make_sr_example(11, 8)])
    with torch.inference_mode():
        out = model(lr, lr_up, ref, ref_dup)
    torch.testing.assert_close(out, lr_up)


def test_l1_and_gan_steps_run_and_change_the_model():
    cfg = SRTrainConfig(model=TINY, steps=3, batch_size=2, train_pool=4, lr_size=8, gan_weight=1e-3, l1_init=1)
    logs = []
    model, hist = train_superres(cfg, log=logs.append)
    assert hist["steps_done"] == 3 and np.isfinite(hist["l1"]).all()
    assert model.texture_transfer.tail_large[-1].weight.abs().sum() > 0  # the zero-initialised head learned
    assert logs and logs[-1].startswith("step 3/3")


def test_feature_loss_without_vgg_weights_is_a_user_error():
    with pytest.raises(UserError, match="VGG19 weights file"):
        train_superres(SRTrainConfig(model=TINY, steps=1, train_pool=2, lr_size=8, feature_weight=0.1))
