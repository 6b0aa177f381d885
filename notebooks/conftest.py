"""The notebooks run as tests (nbmake, ``--nbmake`` in pyproject.toml); the long ones are in
the slow set (docs/development.md, "Test sets").

Each notebook runs in its own Jupyter kernel: its imports alone cost a few CPU-seconds, and
it compiles (or loads from Numba's cache) every kernel it uses.  Measured on the 2-core
development machine with a cold cache, after the tests: 01, 02 and 05 take 10-16 s (wall,
loaded machine) and use kernels the fast set compiles anyway; 03 (the work-precision study of
every method), 04 (sweeps on a local Dask cluster) and 06 (channel noise against the Markov
chain) take 30-45 s each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

#: notebooks in the slow set (file names in this folder)
SLOW = {"03_accuracy_vs_speed.ipynb", "04_large_sweeps.ipynb", "06_channel_noise.ipynb"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(getattr(item, "path", "")))
        if path.suffix == ".ipynb" and path.parent == HERE and path.name in SLOW:
            item.add_marker(pytest.mark.slow)
