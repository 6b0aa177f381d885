"""The engine's cost per call beyond the kernel (issue 18, item 1): ``hh.simulate`` and
``RunPlan.run`` against the kernel alone on arrays packed beforehand, for a batch of 1000
neurons (per-neuron amplitudes, rk4, float64, 100 steps, no recording).

Overhead = median time of the call - median time of the kernel alone, the three interleaved
(A, B, C, A, B, C, ...) so that drift on a shared machine hits them alike.  The kernel alone is
the backend's kernel called on a prepacked :class:`hhfast.kernels.layout.Batch` (where the
engine package exists), else the method's positional kernel on the same arrays.  Usage:

    python benchmarks/plan_overhead.py [--neurons 1000] [--repeats 400] [--steps 100]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import hhfast as hh
from hhfast.kernels import METHODS
from hhfast.kernels import layout as L
from hhfast.stimulus import as_tables


def _kernel_alone(n: int, amp: np.ndarray, t_stop: float, dt: float, method: str):
    """A no-argument callable running the kernel on arrays packed once (here, not timed)."""
    spec = METHODS[method]
    values = {k: np.broadcast_to(v, (n,)) for k, v in dict(
        hh.HHParams.classic().__dict__, amplitude=amp, bias=0.0).items()}
    npad = -(-n // hh.config.BLOCK) * hh.config.BLOCK
    take = np.minimum(np.arange(npad), n - 1)
    col = L.columns(values, take)
    P = L.params(col)
    y = L.initial_state(col, P)
    ic, fo, sp = L.counters(y, P, None, hh.config.MAX_SPIKES)
    tb, c0, c1, index = as_tables([hh.step()])
    steps = round(t_stop / dt)
    batch = L.Batch(y, P, index[np.zeros(npad, dtype=np.int64)], tb, c0, c1, ic, fo, sp,
                    np.zeros((0, 0, 0)), np.full(npad, -1, dtype=np.int64),
                    np.zeros(0, dtype=np.int64), 0.0, dt, steps, 0.0, np.inf, steps + 1)
    try:
        from hhfast.engine.backend import BACKENDS

        kernel = BACKENDS["cpu"].kernel(spec, noisy=False, channel=None)
        return "backend kernel(batch)", lambda: kernel(batch)
    except ImportError:  # before the engine package: the positional kernel
        b = batch
        args = (b.y, b.P, b.tidx, b.tb, b.c0, b.c1, b.t0, b.dt, b.n_steps, b.win0, b.win1,
                b.ic, b.fo, b.spikes, b.rec, b.rec_slot, b.rec_var, b.record_every)
        return "positional spec.run", lambda: spec.run(*args)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=400)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--method", default="rk4")
    args = ap.parse_args()
    n, dt = args.neurons, 0.01
    t_stop = args.steps * dt
    amp = np.linspace(0.0, 20.0, n)
    what, kernel = _kernel_alone(n, amp, t_stop, dt, args.method)
    stim = hh.step()  # made once: its construction is not the engine's
    calls = {"kernel alone": kernel,
             "simulate": lambda: hh.simulate(stim, t_stop, dt, args.method, amplitude=amp)}
    if hasattr(hh, "plan"):
        p = hh.plan(stim, t_stop, dt, args.method, amplitude=amp)
        gna = np.full(n, 120.0)
        calls["plan.run(amplitude, gNa)"] = lambda: p.run(amplitude=amp, gNa=gna)
        calls["plan.run()"] = p.run
    for f in calls.values():  # compile / warm
        f()
    times = {k: [] for k in calls}
    for _ in range(args.repeats):
        for k, f in calls.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"{n} neurons, {args.method}, {args.steps} steps, {args.repeats} repeats, "
          f"numba threads {numba.get_num_threads()}; "
          f"kernel alone = {what}")
    for k, m in med.items():
        extra = "" if k == "kernel alone" else f"  overhead {1e3 * (m - med['kernel alone']):.3f} ms"
        print(f"  {k:28s} median {1e3 * m:8.3f} ms{extra}")


if __name__ == "__main__":
    main()
