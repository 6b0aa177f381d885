"""Stationary voltage variance of a passive membrane (gNa = gK = 0) driven by an OU current,
against the closed form σ²τm²τ / (Cm²(τm + τ)), τm = Cm/gL — the check of the OU current's
exact step mean for τ at and below dt (docs/validation.md, "Current noise").

Protocol: ``--neurons`` neurons from V = EL, σ = 1 µA/cm², dt = 0.01 ms, seed 5; V sampled 8
times per neuron, 16 ms (4.8 τm) apart after 19.2 ms; the printed ratio's standard error is
sqrt(2 / samples).

Usage::

    python benchmarks/ou_variance.py [--methods euler rk4] [--taus 0.001 0.005] [--neurons 4096]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import hhfast as hh
from hhfast.model import HHParams


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["euler", "rk4"])
    ap.add_argument("--taus", type=float, nargs="+", default=[0.001, 0.005])
    ap.add_argument("--neurons", type=int, default=4096)
    a = ap.parse_args(argv)
    p = HHParams.classic()
    tau_m, dt = p.Cm / p.gL, 0.01
    for m in a.methods:
        for tau in a.taus:
            res = hh.simulate(hh.step(), 20.0 + 16 * 8 + 0.5, dt=dt, method=m, gNa=0.0, gK=0.0,
                              amplitude=0.0, V0=p.EL, noise_sigma=np.ones(a.neurons),
                              noise_tau=tau, seed=5, record="V", record_every=160)
            idx = np.searchsorted(res.t, 19.2 + 16 * np.arange(8) - 1e-9)
            x = res.V[:, idx].reshape(-1) - p.EL
            exact = tau_m**2 * tau / (p.Cm**2 * (tau_m + tau))
            print(f"{m:12s} tau={tau:<7g} var/exact={np.mean(x * x) / exact:.4f} "
                  f"(SE {math.sqrt(2 / x.size):.4f}, {x.size} samples)", flush=True)


if __name__ == "__main__":
    main()
