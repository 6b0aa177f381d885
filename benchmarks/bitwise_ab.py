"""Every output of a suite of runs, bit for bit, between two source trees.

    python benchmarks/bitwise_ab.py BEFORE_TREE AFTER_TREE

Each tree runs the same suite in its own process (its own Numba cache) and saves every output
array; the script then compares them with ``np.array_equal`` (NaN equal to NaN).  The suite:
every fixed-step method in float64 and float32, each with a step current (V and n recorded
every 7 steps), a blow-up (large currents, dt = 0.2 ms, V0 from -80 to 80 mV), current noise
(white and OU neurons in one batch) and per-neuron stimuli; the three channel-noise models in
both float types with current noise; dopri5.  Issue 18 used it to show that the redesigned
kernels give the old results exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

SUITE = r"""
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import hhfast as hh
out = {}
N = 40
amp = np.linspace(0, 40, N)


def save(tag, r):
    out[tag + ":count"] = np.asarray(r.spike_count)
    out[tag + ":times"] = np.asarray([r.spike_times[i] for i in range(3)][0])
    for k, v in r.final_state.items():
        out[f"{tag}:final:{k}"] = np.asarray(v)
    for k, v in r.traces.items():
        out[f"{tag}:trace:{k}"] = np.asarray(v)
    for k in ("first_spike", "diverged_time", "window_isi_sumsq", "spike_armed"):
        out[f"{tag}:{k}"] = np.asarray(getattr(r, k))
    if r.noise_current is not None:
        out[tag + ":ou"] = np.asarray(r.noise_current)
    for k, v in (r.info or {}).items():
        if isinstance(v, np.ndarray):
            out[f"{tag}:info:{k}"] = v


fixed = [m for m, s in hh.methods().items() if s.kind == "fixed"]
for m in fixed:
    for d in (np.float64, np.float32):
        t = f"{m}:{np.dtype(d).name}"
        save(t + ":plain", hh.simulate(hh.step(), t_stop=30, dt=0.02, method=m, dtype=d,
                                       amplitude=amp, record="V,n", record_every=7))
        save(t + ":blowup", hh.simulate(hh.step(), t_stop=5, dt=0.2, method=m, dtype=d,
                                        amplitude=amp * 10, V0=np.linspace(-80, 80, N)))
        save(t + ":noisy", hh.simulate(
            hh.step(), t_stop=30, dt=0.02, method=m, dtype=d, amplitude=amp, seed=7,
            noise_sigma=np.linspace(0, 3, N), record="V",
            noise_tau=np.r_[np.zeros(N // 2), np.full(N // 2, 2.0)]))
        save(t + ":mixed", hh.simulate([hh.step(start=float(i % 5)) for i in range(N)],
                                       t_stop=20, dt=0.025, method=m, dtype=d, amplitude=amp,
                                       record="V"))
for c in ("channel", "shielding", "subunit"):
    for d in (np.float64, np.float32):
        save(f"{c}:{np.dtype(d).name}", hh.simulate(
            hh.step(), t_stop=30, dt=0.01, channel_noise=c, dtype=d, amplitude=amp / 4,
            area=np.linspace(20, 500, N), record="V,K_open,Na_open", noise_sigma=0.5, seed=3))
save("dopri5", hh.simulate(hh.step(), t_stop=30, dt=0.02, method="dopri5", amplitude=amp,
                           record="V"))
np.savez(sys.argv[2], **out)
"""


def run(tree: str, out: str) -> None:
    env = dict(os.environ, HHFAST_QUIET_COMPILE="1")
    env.pop("NUMBA_CACHE_DIR", None)  # each tree its own cache (__pycache__ in the tree)
    subprocess.run([sys.executable, "-c", SUITE, tree, out], check=True, env=env)


def main(argv=None) -> int:
    before, after = (argv or sys.argv[1:])[:2]
    with tempfile.TemporaryDirectory() as d:
        a, b = os.path.join(d, "before.npz"), os.path.join(d, "after.npz")
        run(before, a)
        run(after, b)
        x, y = np.load(a), np.load(b)
        bad = [k for k in x.files if k not in y.files or x[k].shape != y[k].shape
               or not np.array_equal(x[k], y[k], equal_nan=True)]
        print(f"{len(x.files)} output arrays compared, {len(bad)} differ")
        for k in bad[:20]:
            print("  differs:", k)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
