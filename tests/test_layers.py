"""The package's layers (docs/architecture.md §1): ``import hhfast`` is light and runs no
numerics, no module imports in a loop or imports the package that contains it, and the
import-linter contracts of pyproject.toml hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what ``import hhfast`` must leave unimported: the explorer's web stack, the figures, the
#: sweep stores, scipy's solvers (one is a root finder the explorer used to run at import),
#: and the hhfast modules that bring them
NOT_AT_IMPORT = ("panel", "bokeh", "tornado", "matplotlib", "matplotlib.pyplot", "zarr",
                 "xarray", "dask", "distributed", "scipy.optimize", "scipy.integrate",
                 "hhfast.explorer", "hhfast.accuracy", "hhfast.reference", "hhfast.markov",
                 "hhfast.plotting")

_PROBE = """
import json, sys
from numba.core import event

compiled = []


class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(str(ev.data.get("dispatcher", "?")))

    def on_end(self, ev):
        pass


event.register("numba:compile", Listener())
import hhfast
from numba.core.registry import CPUDispatcher

# a kernel called at import is compiled, or loaded from Numba's cache: either way it has a
# signature afterwards
for name, mod in list(sys.modules.items()):
    if name.startswith("hhfast"):
        for attr, value in vars(mod).items():
            if isinstance(value, CPUDispatcher) and value.signatures:
                compiled.append(f"{name}.{attr}")
print(json.dumps({"loaded": sorted(m for m in %r if m in sys.modules), "compiled": compiled,
                  "file": hhfast.__file__}))
"""


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter that imports this checkout's hhfast; its stdout."""
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_hhfast_is_light_and_runs_no_numerics():
    """Fails before issue 18: the explorer's bistable preset ran scipy's brentq when imported,
    and hhfast.reference imported scipy.integrate (with scipy.optimize) at module level."""
    probe = json.loads(_fresh(_PROBE % (NOT_AT_IMPORT,)).splitlines()[-1])
    assert Path(probe["file"]).parent == ROOT / "hhfast"
    assert probe["loaded"] == [], f"import hhfast imported {probe['loaded']}"
    assert probe["compiled"] == [], f"import hhfast compiled {probe['compiled']}"


def test_lazy_names_still_work():
    """The names imported on first use answer as before: attributes, ``from`` imports, dir()."""
    out = _fresh(
        "import sys, hhfast as hh\n"
        "from hhfast import reference\n"
        "from hhfast.reference import markov, solve\n"
        "from hhfast import explore\n"
        "from hhfast.explorer import PRESETS\n"
        "assert hh.reference is reference and reference.solve is solve\n"
        "assert hh.reference.markov is markov and hh.explore is explore\n"
        "assert hh.accuracy.compare is hh.reference.compare\n"
        "assert {'accuracy', 'reference', 'explore'} <= set(dir(hh))\n"
        "assert all(hasattr(hh, n) for n in hh.__all__)\n"
        "assert 'V0' in PRESETS['Bistable band (a kick starts lasting firing)']\n"
        "print('ok')\n")
    assert out.strip().endswith("ok")


def test_no_import_loops_and_no_upward_imports():
    """Every import in the package (those inside functions too) goes one way: no module is
    part of an import loop, and none imports a package that contains it (the root's
    ``__init__`` included: the version lives in ``hhfast._version``).  Fails before issue 18:
    ``_checks`` <-> ``stimulus``/``result``, ``explorer`` <-> ``explorer.app``, and
    ``sweeps.spec`` -> ``hhfast`` -> ``sweeps``."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with the test extra's import-linter")
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("hhfast", cache_dir=None, exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(ROOT))
    succ = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("hhfast")}
            for m in graph.modules}
    assert "hhfast.engine" in succ and "hhfast.cli" in succ
    upward = sorted((m, i) for m, deps in succ.items() for i in deps if m.startswith(i + "."))
    assert upward == [], f"modules importing a package that contains them: {upward}"
    # a loop exists iff some module reaches itself: depth-first search for a back edge
    state: dict[str, int] = {}  # 1: on the current path, 2: finished

    def back_edge(m, path):
        state[m] = 1
        for i in sorted(succ[m]):
            if state.get(i) == 1:
                return path + [m, i]
            if i not in state:
                found = back_edge(i, path + [m])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(succ):
        if m not in state:
            loop = back_edge(m, [])
            assert loop is None, f"import loop: {' -> '.join(loop[loop.index(loop[-1]):])}"


def test_import_linter_contracts_hold():
    """The contracts of pyproject.toml (the layers of docs/architecture.md §1, no loops, what
    kernels and faces may not import), as ``lint-imports`` in .ci/run checks them."""
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
