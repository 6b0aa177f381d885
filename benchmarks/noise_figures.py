"""The noise figures of docs/guide/noise.md: f–I curves at several noise levels, and the firing rate in
the bistable band against the noise level.

1. ``fi_noise.png``: :func:`hhfast.fi_curve` with white noise ``noise_sigma`` in
   {0, 1, 2, 4} µA/cm²·ms^½, ``--trials`` trials per current, mean window rate ± SD over
   trials (classic HH, 6.3 °C, rk4, dt = 0.01 ms, 1000 ms per run, rate over the last 500 ms).
2. ``band_noise.png``: at a current inside the bistable band (``--current``, default 7
   µA/cm², band about 6.2–9.8 µA/cm² for the classic model), the mean rate over trials against
   ``noise_sigma``, for neurons brought to it on the quiet branch (a 200 ms ramp) and on the
   firing branch (a step, whose onset fires the neuron).  Weak noise switches firing neurons
   off into the stable rest state, where they stay, more easily than it makes resting neurons
   fire, so the rate first falls with noise, then rises again as noise-driven spiking takes
   over: the non-monotone effect of Gutkin, Jost & Tuckwell (2009) and Tuckwell, Jost &
   Gutkin (2009, Phys. Rev. E 80, 031907).

Usage::

    python benchmarks/noise_figures.py [--out docs] [--trials 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import hhfast as hh  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--current", type=float, default=7.0)
    ap.add_argument("--t-stop", type=float, default=1000.0)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    cur = np.linspace(0.0, 20.0, 81)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for sigma in (0.0, 1.0, 2.0, 4.0):
        fi = hh.fi_curve(cur, t_stop=a.t_stop, noise_sigma=sigma, trials=a.trials, seed=1)
        (line,) = ax.plot(cur, fi.rate, label=f"σ = {sigma:g}")
        if sigma > 0:
            ax.fill_between(cur, fi.rate - fi.rate_sd, fi.rate + fi.rate_sd, alpha=0.2,
                            color=line.get_color())
    ax.set(xlabel="current (µA/cm²)", ylabel="rate (Hz)",
           title=f"f–I curves with white noise ({a.trials} trials, mean ± SD)")
    ax.legend(title="µA/cm²·ms^½")
    fig.tight_layout()
    fig.savefig(a.out / "fi_noise.png", dpi=120)
    print(f"fi_noise.png ({time.perf_counter() - t0:.1f} s)")

    t0 = time.perf_counter()
    sigmas = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0])
    K = a.trials * 4
    # a slow ramp to the current keeps the neuron on the quiet branch; a step fires it
    slow = hh.ramp(0.0, 200.0, 0.0, 1.0, hold=True)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, stim in (("start quiet (slow ramp)", slow), ("start firing (step)", hh.step())):
        res = hh.simulate(stim, a.t_stop, amplitude=a.current,
                          noise_sigma=sigmas[:, None], trial=np.arange(K)[None, :]
                          + K * np.arange(sigmas.size)[:, None], seed=3, max_spikes=0,
                          window=(a.t_stop / 2, a.t_stop))
        rate = hh.analysis.spike_rate(res)
        m, se = rate.mean(axis=1), rate.std(axis=1, ddof=1) / np.sqrt(K)
        ax.errorbar(sigmas, m, yerr=2 * se, marker="o", capsize=2, label=label)
        print(label, dict(zip(sigmas.tolist(), np.round(m, 2).tolist(), strict=True)))
    ax.set(xlabel="noise σ (µA/cm²·ms^½)", ylabel="mean rate, last half (Hz)",
           title=f"I = {a.current:g} µA/cm² in the bistable band ({K} trials, ± 2 SE)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.out / "band_noise.png", dpi=120)
    print(f"band_noise.png ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
