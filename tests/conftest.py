"""Shared fixtures and the hypothesis profile (no deadline: the first call of a kernel compiles)."""

import os

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile(
    "hhfast",
    deadline=None,
    max_examples=int(os.environ.get("HHFAST_HYPOTHESIS_EXAMPLES", "25")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("hhfast")


@pytest.fixture
def no_kernel(monkeypatch):
    """Make any kernel launch fail: a test using this proves an error came before compilation
    and allocation of the outputs."""
    import hhfast.engine.launch as launch

    def boom(*a, **k):  # pragma: no cover - only reached on a bug
        raise AssertionError("the kernel was reached; the input should have been refused first")

    monkeypatch.setattr(launch, "launch", boom)  # the engine's one way to the outputs and kernels
