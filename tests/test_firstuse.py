"""First use says what it does: one stderr line before a kernel compiles, none from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from numba import types
from numba.core import event

from hhfast import _firstuse, config
from hhfast.kernels import compiled

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import numpy as np, hhfast as hh
for _ in range(2):  # the second call finds the kernel in memory
    hh.simulate(hh.step(), t_stop=0.05, method="euler", dtype=np.float32)
print("ran")
"""


@pytest.mark.slow
def test_one_line_when_compiling_none_when_cached(tmp_path):
    """A fresh Numba cache: the first process compiles euler-float32 (one line, before the
    wait), a second process loads it from the cache (silent)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), HHFAST_QUIET_COMPILE="",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run():
        p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           env=env, timeout=900, cwd=ROOT)
        assert p.returncode == 0 and "ran" in p.stdout, p.stderr
        return [ln for ln in p.stderr.splitlines() if ln.startswith("hhfast: compiling")]

    first = run()
    assert first == ["hhfast: compiling the euler float32 kernel, first use on this machine "
                     f"({_firstuse.estimate('euler')}); cached afterwards"]
    assert run() == []


def _fire(dispatcher, dtype):
    args = (types.Array(dtype, 2, "C"),)
    with event.trigger_event("numba:compile", data=dict(dispatcher=dispatcher, args=args,
                                                         return_type=None)):
        pass


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(_firstuse, "_said", set())
    monkeypatch.setattr(config, "COMPILE_MESSAGE", True)


def test_once_per_kernel_and_dtype(fresh, capsys):
    rk4 = compiled()["rk4"]
    _fire(rk4, types.float64)
    _fire(rk4, types.float64)
    _fire(rk4, types.float32)
    err = capsys.readouterr().err.splitlines()
    about = _firstuse.estimate("rk4")
    assert err == [
        f"hhfast: compiling the rk4 float64 kernel, first use on this machine ({about}); "
        "cached afterwards",
        f"hhfast: compiling the rk4 float32 kernel, first use on this machine ({about}); "
        "cached afterwards",
    ]


def test_silent_for_other_functions_and_when_silenced(fresh, capsys, monkeypatch):
    from numba import njit

    @njit
    def not_a_kernel(x):  # pragma: no cover - never compiled here
        return x

    _fire(not_a_kernel, types.float64)
    monkeypatch.setattr(config, "COMPILE_MESSAGE", False)
    _fire(compiled()["euler"], types.float64)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value, on", [("", True), ("0", True), ("1", False), ("yes", False)])
def test_environment_variable_silences(value, on):
    env = dict(os.environ, HHFAST_QUIET_COMPILE=value,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", "from hhfast import config; "
                        "print(config.COMPILE_MESSAGE)"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.stdout.strip() == str(on)


def test_features_kernels_are_announced_with_their_longer_compile():
    # the features term adds ~12 CPU-s to a kernel's cold compile (rk4 7.3 -> 19.0 CPU-s,
    # docs/guide/features.md): every features kernel the registry labels must be announced
    # with a longer wait than the same kernel without the term (the labels and the estimate
    # must keep agreeing on how a features kernel is named)
    labels = [k for k in compiled() if k.endswith(" with features")]
    assert labels
    for label in labels:
        base = label.removesuffix(" with features")
        assert base in compiled()
        longer = int(_firstuse.estimate(label).strip("~ s"))
        assert longer > int(_firstuse.estimate(base).strip("~ s")), label
