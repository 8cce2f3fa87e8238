"""models/inception_fid.py against an independent functional Inception-v3 (pytorch-fid's FID variant), written
in tests/support/inception_reference.py with plain torch.nn.functional calls on the same state dict: input resize and [-1, 1] scaling, the
count_include_pad=False average pools of the A, C and first E blocks, the max pool of the last E block's pool
branch, and the final global average pool."""

import pytest
import torch

from models.inception_fid import InceptionFID
from tests.support.inception_reference import Ref, _random_state


@pytest.mark.parametrize("size", [75, 107])  # the smallest Inception input, and one with odd feature maps
def test_inception_fid_forward_matches_functional_reference(size):
    net = InceptionFID(input_size=size).double().eval()
    sd = _random_state(net)
    net.load_state_dict(sd, strict=True)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 41, 53, generator=g, dtype=torch.float64)  # not square, not the input size: resized
    with torch.no_grad():
        ours, ref = net(x), Ref(sd, size)(x)
    assert ours.shape == (2, 2048)
    assert ref.abs().max() > 1e-3 and ref.std() > 1e-3  # the random weights keep a non-trivial signal
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_fid_path_uses_the_299_input():
    import core.metrics

    assert core.metrics.FID_INPUT_SIZE == 299
    assert InceptionFID().input_size == 299
