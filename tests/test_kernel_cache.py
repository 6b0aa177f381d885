"""Numba's cache must never serve a kernel compiled from other sources.

Numba keys a cached kernel on its own file only; hhfast stamps the cache with a hash of every
kernel source and knob and flushes it when they change (hhfast/kernels/__init__.py)."""

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, hhfast as hh
from hhfast.kernels import euler
hh.simulate(hh.step(), 5.0, method="euler")
print(json.dumps([sum(euler.run.stats.cache_hits.values()), sum(euler.run.stats.cache_misses.values())]))
"""


def probe():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_second_process_loads_from_cache_and_a_stale_stamp_forces_a_recompile():
    from hhfast.kernels import euler

    marker = Path(euler.run._cache._cache_path) / "euler.hhfast-stamp"
    probe()  # make sure the cache holds the current kernel
    hits, misses = probe()
    assert hits == 1 and misses == 0  # a second process does not recompile
    good = marker.read_text()
    marker.write_text("sources of an older hhfast")  # as if common.py had changed since
    hits, misses = probe()
    assert hits == 0 and misses == 1  # the stale kernel was not used
    assert marker.read_text() == good
    assert probe() == [1, 0]
