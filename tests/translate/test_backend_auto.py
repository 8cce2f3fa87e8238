"""`--backend auto` (issue 24): interleaved rounds, best of each, ONNX Runtime kept within the noise on the CPU,
measured again when the model, tile, batch sizes or machine change."""

from __future__ import annotations

import time

import pytest

from core.translate import backends


class FakeTranslator:
    """Sleeps a fixed time per pass; the first timed passes of `slow_first` are slowed as by another process."""

    calls: list[str] = []

    def __init__(self, backend: str, per_tile: float, slow_first: int = 0) -> None:
        self.backend, self.per_tile, self.slow_first, self.n = backend, per_tile, slow_first, 0

    def run_batch(self, x):
        self.n += 1
        FakeTranslator.calls.append(self.backend)
        burst = 3.0 if 2 < self.n <= 2 + self.slow_first else 1.0  # 2 warm-up passes, then the rounds
        time.sleep(self.per_tile * len(x) * burst)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _quick(monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "PAUSE_S", 0.0)
    monkeypatch.setenv("SAR_STUDIO_CACHE", str(tmp_path / "cache"))
    FakeTranslator.calls = []


def test_rounds_are_interleaved_and_a_load_burst_does_not_decide(monkeypatch):
    # eager slightly slower than ONNX, but its ONNX rounds hit a burst of load in the first two rounds
    speeds = {"torch": 0.004, "onnx": 0.003}

    def make(b):
        return FakeTranslator(b, speeds[b], slow_first=4 if b == "onnx" else 0)

    backend, batch, why = backends.choose("d1", "cpu", 64, 1, make, cuda=False)
    assert backend == "onnx" and "best of 5 interleaved rounds" in why and "measured now" in why
    rounds = FakeTranslator.calls[4:]  # after the warm-ups: torch b1, torch b4, onnx b1, onnx b4, torch ...
    assert rounds[:8] == ["torch", "torch", "onnx", "onnx"] * 2
    assert backends.last_detail()["backend"] == "onnx"


def test_onnx_within_the_noise_is_kept_on_the_cpu_and_a_clear_win_is_not():
    assert backends.decide({"torch": {"1": 0.100, "4": 0.095}, "onnx": {"1": 0.099, "4": 0.098}}, 0.05, False) == (
        "onnx",
        4,
    )
    assert backends.decide({"torch": {"1": 0.100, "4": 0.080}, "onnx": {"1": 0.110, "4": 0.100}}, 0.05, False) == (
        "torch",
        4,
    )
    assert backends.decide({"torch": {"1": 0.100}, "onnx": {"1": 0.103}}, 0.05, True) == ("torch", 1)
    assert backends.noise_of({"torch": {"1": [1.0, 1.3, 1.2]}}) == pytest.approx(0.2)


def test_a_cached_choice_is_reused_and_a_new_model_or_tile_is_measured_again():
    def make(b):
        return FakeTranslator(b, 0.002)

    backends.choose("d1", "cpu", 64, 1, make, cuda=False)
    n = len(FakeTranslator.calls)
    _, _, why = backends.choose("d1", "cpu", 64, 1, make, cuda=False)
    assert "cached measurement" in why and len(FakeTranslator.calls) == n
    for digest, tile in (("d2", 64), ("d1", 128)):
        _, _, why = backends.choose(digest, "cpu", tile, 1, make, cuda=False)
        assert "measured now" in why
