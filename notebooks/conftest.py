"""The notebooks run as tests (nbmake, ``--nbmake`` in pyproject.toml); the long ones are in
the slow set (docs/development.md, "Test sets").

Each notebook runs in its own Jupyter kernel: its imports alone cost a few CPU-seconds, and
it compiles (or loads from Numba's cache) every kernel it uses.  Measured on the 2-core
development machine (CPU-s, after the fast set's tests had filled the cache): 01 6.2, 02 5.1,
05 4.0, 03 10.4, 04 15.0 (a local Dask cluster), 06 18.1 (channel noise against the Markov
chain).  The fast set keeps the quick start (01), the notebook a new user runs first and the
documentation site opens; the others are in the slow set; 07 (fitting, 8-9 s) is fast.

08_inference.ipynb is left out of the ``--nbmake`` run altogether: it trains a neural
posterior with ``sbi`` (PyTorch, a heavy install, minutes of training), so it is run by hand in
its own environment and stored with its outputs; the simulator it uses is tested in CI by
tests/test_inference.py.  Run it in Jupyter, or with ``jupyter nbconvert --to notebook
--execute --inplace notebooks/08_inference.ipynb``, in an environment with ``pip install sbi``
(CPU PyTorch).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

#: notebooks not collected at all (see above)
collect_ignore = ["08_inference.ipynb"]

#: notebooks in the slow set (file names in this folder)
SLOW = {"02_fi_curves.ipynb", "03_accuracy_vs_speed.ipynb", "04_large_sweeps.ipynb",
        "05_noise.ipynb", "06_channel_noise.ipynb"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(getattr(item, "path", "")))
        if path.suffix == ".ipynb" and path.parent == HERE and path.name in SLOW:
            item.add_marker(pytest.mark.slow)
