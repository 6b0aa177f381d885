"""The f–I edges of classic HH under a spike detector's re-arm margin (issue 22, item 6).

Runs :func:`hhfast.fi_curve` on 321 currents (0–160 µA/cm², rk4, dt = 0.01 ms, 1000 ms) with
``branch="rest"`` (onset, block) and ``branch="both"`` (fold, block, bistable band, Hopf points)
and writes the edges and the rates to JSON.  Run it in two source trees (before and after a
change of the spike detector) and compare: ``--rearm default`` is the library's default margin
(what an hhfast without ``spike_rearm`` always runs).

    python benchmarks/fi_edges_rearm.py [--rearm default|MV] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import hhfast as hh


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rearm", default="default")
    ap.add_argument("--out", type=Path, default=Path("fi_edges.json"))
    a = ap.parse_args(argv)
    kw = {} if a.rearm == "default" else {"spike_rearm": float(a.rearm)}
    cur = np.linspace(0, 160, 321)
    out = {"hhfast": hh.__file__, "rearm": a.rearm,
           "default_rearm": getattr(hh.config, "SPIKE_REARM_MV", 0.0)}
    t = time.perf_counter()
    r = hh.fi_curve(cur, t_stop=1000, **kw)
    out["rest"] = dict(onset=r.onset, block=r.block, rate=r.rate.tolist())
    b = hh.fi_curve(cur, t_stop=1000, branch="both", **kw)
    out["both"] = dict(fold=b.onset, block=b.block, band=b.band, hopf=list(map(float, b.hopf)),
                       rate_firing=b.rate_firing.tolist(), rate_quiet=b.rate_quiet.tolist())
    out["wall_s"] = time.perf_counter() - t
    print({k: v for k, v in out["rest"].items() if k != "rate"},
          {k: v for k, v in out["both"].items() if not k.startswith("rate")})
    a.out.write_text(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
