"""The last result of a page survives a browser reload: a token in the URL (no cookie) keys a server folder of plain
arrays and JSON (core.recent); a new session with the same URL finds it, another token does not."""

import numpy as np
import pytest

from core import recent
from tests.support.apptest import app_test


def test_round_trip_plain_arrays_and_json(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path))
    tok = recent.new_token()
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    recent.save(tok, "speckle", {"input": "abc", "results": [["lee", "Lee", {"window": 7}]]}, {"r0": a})
    meta, arrays = recent.load(tok, "speckle")
    assert meta["input"] == "abc" and meta["results"] == [["lee", "Lee", {"window": 7}]]
    np.testing.assert_array_equal(arrays["r0"], a)
    assert recent.load(recent.new_token(), "speckle") is None  # another browser's token: nothing
    assert recent.load("../../etc", "speckle") is None and recent.load(None, "speckle") is None
    with pytest.raises(ValueError):
        recent.save("../x" * 6, "speckle", {}, {})


def test_speckle_results_come_back_after_a_reload(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path))
    at = app_test("speckle.py").run()
    at.button(key="speckle_run").click().run()
    assert not at.exception
    token = at.query_params["session"]
    token = token[0] if isinstance(token, list) else token
    assert recent.valid_token(token)
    first = at.session_state["speckle_results"]["results"]

    again = app_test("speckle.py")  # a reload: a new session, the same URL
    again.query_params["session"] = token
    again.run()
    assert not again.exception
    restored = again.session_state["speckle_results"]["results"]
    assert [r.name for r in restored] == [r.name for r in first] == ["lee", "refined_lee"]
    for a, b in zip(restored, first):
        np.testing.assert_array_equal(a.intensity, b.intensity)
    assert any("kept across the reload" in c.value for c in again.caption)

    other = app_test("speckle.py").run()  # a fresh browser (no token): no result
    assert "speckle_results" not in other.session_state


def test_superres_result_comes_back_after_a_reload(tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_STUDIO_UPLOADS", str(tmp_path))
    at = app_test("superres.py").run()
    at.button(key="superres_run").click().run()
    assert not at.exception
    token = at.query_params["session"]
    token = token[0] if isinstance(token, list) else token
    first = at.session_state["superres_result"][1]

    again = app_test("superres.py")
    again.query_params["session"] = token
    again.run()
    assert not again.exception
    restored = again.session_state["superres_result"][1]
    np.testing.assert_array_equal(restored.sr, first.sr)
    assert restored.metrics == first.metrics  # JSON keeps floats exactly (repr round-trips)
    assert any("kept across the reload" in c.value for c in again.caption)
