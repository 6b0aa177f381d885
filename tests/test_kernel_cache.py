"""Numba's cache must never serve a kernel compiled from other sources.

Numba keys a cached kernel on its own file only; hhfast stamps the cache with a hash of every
kernel source and knob and flushes it when they change (hhfast/kernels/__init__.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, hhfast as hh
from hhfast.kernels import cpu
hh.simulate(hh.step(), 5.0, method="euler")
k = cpu.euler_plain
print(json.dumps([sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]))
"""


def probe():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow  # 4 processes and a recompile (~8 CPU-s); the fast set checks that every
# cached function carries the current stamp (below)
def test_second_process_loads_from_cache_and_a_stale_stamp_forces_a_recompile():
    from hhfast.kernels import cpu

    marker = Path(cpu.euler_plain._cache._cache_path) / "cpu.euler_plain.hhfast-stamp"
    probe()  # make sure the cache holds the current kernel
    hits, misses = probe()
    assert hits == 1 and misses == 0  # a second process does not recompile
    good = marker.read_text()
    marker.write_text("sources of an older hhfast")  # as if hh.py had changed since
    hits, misses = probe()
    assert hits == 0 and misses == 1  # the stale kernel was not used
    assert marker.read_text() == good
    assert probe() == [1, 0]


def test_every_cached_function_of_the_kernels_is_stamped():
    # a helper LLVM inlines (hh.rhs), a method's step, a term's cold path, a kernel: each is a
    # cached function of its own, and each must be flushed when any kernel source changes
    from hhfast.kernels import _cached_functions, _source_stamp

    fns = dict((name, fn) for fn, name in _cached_functions())
    for name in ("cpu.rk4_noise", "cpu.channel_shielding", "cpu.handle_events", "hh.rhs",
                 "rk4.step", "noise.fill_normals", "channel.step_channel", "dopri5.run"):
        assert name in fns, name
    stamp = _source_stamp()
    for name, fn in fns.items():
        marker = Path(fn._cache._cache_path) / f"{name}.hhfast-stamp"
        assert marker.read_text() == stamp, name
