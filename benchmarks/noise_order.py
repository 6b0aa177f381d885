"""Strong and weak order of every fixed-step method with current noise, measured on one
Brownian path per sample at several dt (the fine increments summed for the coarse steps).

The noisy kernels advance a lane by the method's ``step`` (its deterministic one-step map,
the very function the kernel inlines) and then add the noise (``kernels/terms/noise.py``): a white
kick ``σ ΔW / Cm`` to V, or an OU current's exact step mean added at every stage.  Here a
small driver runs that same scheme with increments given from outside: for each of
``--paths`` samples a fine path (``dt_ref``) of Brownian increments (white) or of the exact
OU current and its exact fine-step means (OU, the coefficients of ``hhfast.noise``); a run at
``dt = r · dt_ref`` uses the sums of ``r`` fine increments (white) or the mean of ``r`` fine
step means (OU: the exact coarse step mean, since charges add).  Reference: ``rk4`` on the
fine grid with the same path.

Printed per method, noise and dt: the strong error ``sqrt(E|V_dt(T) - V_ref(T)|²)`` (mV) and
the weak error ``|E[V_dt(T)] - E[V_ref(T)]|`` (mV, its standard error beside it), and the
slopes of log error against log dt between successive dts (the measured orders).

The classic model is driven below threshold (no bias, noise σ = 1) for
``--t-stop`` ms, so the error is that of the scheme, not of a spike shifted across T.

Usage::

    python benchmarks/noise_order.py [--paths 512] [--t-stop 10]
"""

from __future__ import annotations

import argparse
import importlib
import math

import numpy as np
from numba import njit

from hhfast import config
from hhfast.kernels import METHODS
from hhfast.kernels import layout as K
from hhfast.kernels.layout import Z_CROSS, Z_DECAY, Z_KICK, Z_MEAN, Z_OWN
from hhfast.model import HHParams, steady_state
from hhfast.noise import coefficients

B = config.BLOCK


@njit(fastmath=config.FASTMATH, error_model="numpy")
def _run_scheme(step, pb, y0, dt, n_steps, r, kick, dW, cur):
    """BLOCK lanes, ``n_steps`` steps of ``dt``; lane l's noise on step k: white kick
    ``kick[l] * sum(dW[l, k r : (k + 1) r])``, OU step mean ``mean(cur[l, k r : (k + 1) r])``
    (``cur`` holds the fine steps' means)."""
    st = y0.copy()
    for k in range(n_steps):
        for l in range(B):
            w = 0.0
            c = 0.0
            for j in range(k * r, (k + 1) * r):
                w += dW[l, j]
                c += cur[l, j]
            c = c / r
            I = pb[K.P_BIAS, l] + c
            V1, n1, m1, g1 = step(st[0, l], st[1, l], st[2, l], st[3, l], I, I, I, pb, l, dt, ())
            st[0, l] = V1 + kick[l] * w
            st[1, l] = n1
            st[2, l] = m1
            st[3, l] = g1
    return st[0]


def _block_params(p: HHParams, bias: float) -> np.ndarray:
    pb = np.empty((K.NP, B))
    for row, v in ((K.P_GNA, p.gNa), (K.P_GK, p.gK), (K.P_GL, p.gL), (K.P_ENA, p.ENa),
                   (K.P_EK, p.EK), (K.P_EL, p.EL), (K.P_ICM, 1.0 / p.Cm),
                   (K.P_VREST, p.V_rest), (K.P_PHI, 3.0 ** ((p.temperature - 6.3) / 10.0)),
                   (K.P_BIAS, bias), (K.P_AMP, 0.0), (K.P_THR, p.V_rest + 50.0),
                   (K.P_REARM, p.V_rest + 50.0 - config.SPIKE_REARM_MV)):
        pb[row] = v
    return pb


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=512)
    ap.add_argument("--t-stop", type=float, default=10.0)
    ap.add_argument("--dt-ref", type=float, default=0.000625)
    ap.add_argument("--dts", type=float, nargs="+", default=[0.04, 0.02, 0.01, 0.005])
    ap.add_argument("--methods", nargs="+", default=[m for m, s in METHODS.items()
                                                      if s.kind == "fixed"])
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    p = HHParams.classic()
    pb = _block_params(p, 0.0)
    n_inf, m_inf, h_inf = steady_state(np.zeros(1), HHParams(V_rest=0.0))
    y0 = np.empty((4, B))
    y0[0], y0[1], y0[2], y0[3] = p.V_rest, n_inf[0], m_inf[0], h_inf[0]
    n_fine = round(a.t_stop / a.dt_ref)
    rng = np.random.default_rng(a.seed)
    sigma, tau = 1.0, 2.0
    steps = {m: importlib.import_module(f"hhfast.kernels.{m}").step for m in a.methods}
    print(f"T = {a.t_stop} ms, {a.paths} paths, reference rk4 at dt = {a.dt_ref} ms; "
          "errors of V(T) in mV (weak: value +- SE)")
    for noise in ("white", "ou"):
        # the paths, BLOCK at a time
        batches = []
        for _ in range(-(-a.paths // B)):
            dW = rng.standard_normal((B, n_fine)) * math.sqrt(a.dt_ref)
            cur = np.zeros((B, n_fine))  # the fine steps' mean currents
            if noise == "ou":
                nz = coefficients(np.array([sigma]), np.array([tau]), np.ones(1), a.dt_ref)[:, 0]
                z = rng.standard_normal((B, n_fine + 1))
                z2 = rng.standard_normal((B, n_fine))
                c = sigma * z[:, 0]
                for j in range(n_fine):
                    cur[:, j] = (nz[Z_MEAN] * c + nz[Z_CROSS] * z[:, j + 1]
                                 + nz[Z_OWN] * z2[:, j])
                    c = c * nz[Z_DECAY] + nz[Z_KICK] * z[:, j + 1]
                dW[:] = 0.0
            batches.append((dW, cur))
        kick = np.full(B, sigma / p.Cm)
        ref = np.concatenate([_run_scheme(steps.get("rk4") or importlib.import_module(
            "hhfast.kernels.rk4").step, pb, y0, a.dt_ref, n_fine, 1, kick, dW, cur)
            for dW, cur in batches])
        for m in a.methods:
            rows = []
            for dt in a.dts:
                r = round(dt / a.dt_ref)
                v = np.concatenate([_run_scheme(steps[m], pb, y0, dt, n_fine // r, r, kick, dW, cur)
                                    for dW, cur in batches])
                d = v - ref
                rows.append((dt, math.sqrt(np.mean(d * d)), abs(d.mean()),
                             d.std(ddof=1) / math.sqrt(d.size)))
            txt = []
            for i, (dt, s, w, se) in enumerate(rows):
                o = "" if i == 0 else (f" [{math.log(rows[i - 1][1] / s, 2):.2f}, "
                                       f"{math.log(rows[i - 1][2] / w, 2):.2f}]")
                txt.append(f"dt={dt:g}: {s:.2e}, {w:.2e}+-{se:.1e}{o}")
            print(f"{noise:5s} {m:12s} " + "; ".join(txt))
    print("[a, b]: measured strong and weak order between a dt and the previous one")


if __name__ == "__main__":
    main()
