"""The agreement table of the in-kernel features with eFEL (docs/guide/features.md): the runs of
``tests/test_features.py`` (the gist, f–I steps with rk4, euler and expeuler, current noise,
channel noise), each feature's largest absolute and relative deviation from eFEL over every
neuron, and the tolerance the tests hold it to.  The eFEL reference is the tests' own
(``tests/test_features.py::_efel``), so the table is what the tests check.

Usage::

    python benchmarks/features_agreement.py [--out benchmarks/results/features_agreement.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def runs():
    import hhfast as hh

    ALL = list(hh.FEATURES)
    step = hh.step(10.0, 110.0)
    amps = np.array([0.0, 3.0, 6.5, 8.0, 12.0, 25.0, 60.0, 150.0])
    yield "gist, rk4", (5.0, 55.0), hh.simulate(hh.gist(), 60.0, features=ALL,
                                                 feature_window=(5.0, 55.0), record="V")
    for m in ("rk4", "euler", "expeuler"):
        yield f"f–I steps, {m}", (10.0, 110.0), hh.simulate(
            step, 120.0, method=m, amplitude=amps, features=ALL, feature_window=(10.0, 110.0),
            record="V")
    yield "current noise (white, OU), rk4", (20.0, 180.0), hh.simulate(
        hh.step(20.0, 180.0), 200.0, amplitude=np.array([4.0, 8.0, 15.0, 30.0, 8.0, 15.0]),
        noise_sigma=np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0]),
        noise_tau=np.array([0.0, 0.0, 0.0, 0.0, 2.0, 2.0]), seed=3, features=ALL,
        feature_window=(20.0, 180.0), record="V")
    yield "channel noise 30 µm²", (20.0, 180.0), hh.simulate(
        hh.step(20.0, 180.0), 200.0, amplitude=np.array([0.0, 8.0, 15.0]),
        channel_noise="channel", area=30.0, seed=3, features=ALL,
        feature_window=(20.0, 180.0), record="V")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from test_features import _efel

    import hhfast as hh

    table = {name: dict(abs=0.0, rel=0.0, compared=0) for name in hh.FEATURES}
    per_run = {}
    for label, (t0, t1), r in runs():
        worst = {}
        for j, i in enumerate(r.recorded):
            ref = _efel(r.t, r.V[j], t0, t1, 50.0, r.dt)
            for name in hh.FEATURES:
                x, y = float(r.features[name].reshape(-1)[i]), ref[name]
                if np.isnan(x) and np.isnan(y):
                    continue
                d = abs(x - y)
                rel = d / abs(y) if y != 0 else (0.0 if d == 0 else np.inf)
                t = table[name]
                t["abs"], t["rel"] = max(t["abs"], d), max(t["rel"], rel)
                t["compared"] += 1
                worst[name] = max(worst.get(name, 0.0), d)
        per_run[label] = worst
        print(label, {k: f"{v:.1e}" for k, v in worst.items()}, flush=True)
    print(f"\n{'feature':30s} {'max |d|':>10s} {'max |d|/|eFEL|':>15s} {'values':>7s}")
    for name, t in table.items():
        print(f"{name:30s} {t['abs']:10.2e} {t['rel']:15.2e} {t['compared']:7d}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(table=table, per_run=per_run), f, indent=1)


if __name__ == "__main__":
    main()
