"""The Langevin channel-noise models against the exact Markov chain, and what they cost.

For membrane patches of 10, 30, 100, 300 and 1000 µm² (classic HH, 6.3 °C, rho_Na = 60 and
rho_K = 18 channels per µm², threshold 50 mV above rest) and the models ``markov``
(:func:`hhfast.reference.markov`, exact; voltage step 0.01 ms) and ``channel``,
``shielding``, ``subunit`` (``hhfast.simulate(channel_noise=...)``, Euler–Maruyama,
dt = 0.01 ms):

1. **spontaneous** (I = 0): the firing rate, mean ± SE over neurons (each neuron's rate over
   its window), and the inter-spike-interval (ISI) distribution;
2. **driven** (a constant ``--bias`` current, default 10 µA/cm², switched on at t = 0 from
   rest; every area fires repetitively there): the ISI distribution;
3. **L1 distances**: for each Langevin model, ``L1 = sum |p - q| * width`` between its ISI
   density and the Markov one on a shared histogram (range [0, 2]; Freedman–Diaconis bins of
   the pooled Markov ISIs, covering every sample).  The Markov neurons are run as two
   independent halves A and B of equal size; a model's L1 is the mean of its distances to A
   and to B, its sample being its first neurons in the same number and duration as one half,
   and the **noise floor** is L1(A, B): two exact samples of the same size.  A model L1 near
   the floor means its error is below what the sample can resolve; ``L1_big`` compares the
   model's whole (much larger) sample with A and B pooled.
4. **throughput**: neuron-seconds simulated per wall-second and neuron-steps per second of
   each Langevin model on ``--width`` neurons (default 4096) at each area, beside the
   deterministic ``euler`` kernel on the same batch in the same run (the yardstick ratio);
   for the Markov reference, the wall time of its driven runs (all ``--threads`` threads).
5. **f–I against area**: the channel model's mean rate over ``--fi-trials`` trials against a
   constant current 0–15 µA/cm², switched on at t = 0 from rest, rate over a window after
   100 ms, for 10, 30, 100 and 1000 µm², beside the deterministic model from rest (same
   kernel, same protocol) and its bistable band from ``hhfast.fi_curve(branch="both")``.

Windows start after a burn-in (``--burn``, default 50 ms; 100 ms for the f–I curves); ISIs
are the differences of consecutive stored spike times inside the window (``max_spikes`` is
sized from the window, and a truncated neuron stops the script).

Output (``--out``, default ``benchmarks/results``): ``channel_noise.json`` (everything),
``channel_noise.md`` (the tables), ``channel_noise.png`` (ISI densities per area and model,
spontaneous rate against area) and ``channel_noise_fi.png`` (f–I curves against area).

Sizes: ``--scale F`` multiplies every window duration (hence every cost) by F; neuron counts
stay multiples of 16 so that up to 16 threads share the Markov runs evenly.  At ``--scale 1``
the Markov runs cost about 2700 thread-seconds as measured on the loaded 2-core development
machine (one thread there: ~6 / 2.5 / 1 / 0.3 / 0.1 neuron-s per second at 10 / 30 / 100 / 300 /
1000 µm²), and the Langevin runs, throughput and f–I sections about 1 minute on 16 cores, so
the full run takes about 4–6 minutes with ``--threads 16`` on 16 idle cores, of which ~1.5 min
are the first-use compiles of six kernels (``--scale 1.5`` still fits ~8 minutes).  ``--quick``
is a smoke run (Markov halves of a quarter of the neurons, windows 0.2 x, f–I on a 1 µA/cm²
grid) that checks the script in about 2 minutes on 2 threads.

Usage::

    python benchmarks/channel_noise_validation.py --threads 16            # full size
    python benchmarks/channel_noise_validation.py --quick --threads 2     # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

AREAS = (10.0, 30.0, 100.0, 300.0, 1000.0)
MODELS = ("channel", "shielding", "subunit")
FI_AREAS = (10.0, 30.0, 100.0, 1000.0)

# Markov neurons per half (A and B each) and window (ms) at --scale 1.  The cost of a Markov
# neuron-second grows with the area (~5 ms of one core per µm²-second), so the large patches
# get fewer neuron-seconds; the Langevin runs use the same windows with more neurons.
PLAN_SPONT = {10.0: (32, 3000.0), 30.0: (32, 3000.0), 100.0: (64, 2000.0),
              300.0: (64, 2000.0), 1000.0: (16, 1000.0)}
PLAN_DRIVEN = {10.0: (64, 2000.0), 30.0: (64, 2000.0), 100.0: (64, 1500.0),
               300.0: (64, 1000.0), 1000.0: (32, 600.0)}
LANGEVIN_NEURONS = 1024   # Langevin neurons per area and run (the first ones match a half)
MIN_ISIS = 50             # fewer ISIs in a Markov half: no ISI distribution reported


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- spike statistics --------------------------------------------------------------------------
def checked(res, what: str):
    """Stop if any neuron fired more spikes than were stored (its ISIs would be cut)."""
    over = int(np.sum(res.spike_times.overflow))
    if over:
        raise RuntimeError(f"{what}: {over} spikes not stored; raise max_spikes")
    return res


def isis(res, rows, t0: float) -> np.ndarray:
    """ISIs (ms) of consecutive stored spikes at or after ``t0`` of the neurons ``rows``."""
    st = res.spike_times.array[rows]
    st = np.where(st >= t0, st, np.nan)
    d = np.diff(st, axis=1)
    return d[np.isfinite(d)]


def rates(res, rows) -> np.ndarray:
    """Per-neuron window rate (Hz) of ``rows`` (exact window counts from the kernel)."""
    w0, w1 = res.window
    return res.window_count.reshape(-1)[rows] / ((w1 - w0) * 1e-3)


def mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0


def shared_bins(ref: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Bin edges: Freedman–Diaconis width of the reference sample, covering every sample."""
    lo = min(float(np.min(s)) for s in (ref, *others) if s.size)
    hi = max(float(np.max(s)) for s in (ref, *others) if s.size)
    q25, q75 = np.percentile(ref, [25, 75])
    width = 2.0 * (q75 - q25) / ref.size ** (1 / 3)
    if not width > 0:
        width = max(hi - lo, 1.0) / 50
    n = min(int(math.ceil((hi - lo) / width)) + 1, 20000)
    return lo + (hi - lo + 1e-9) * np.arange(n + 1) / n


def l1(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """``sum |p - q| * width`` of the two histogram densities on ``edges`` (range [0, 2])."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    p = np.histogram(a, edges)[0] / a.size
    q = np.histogram(b, edges)[0] / b.size
    return float(np.abs(p - q).sum())


def isi_summary(x: np.ndarray) -> dict:
    if x.size < 2:
        return {"n": int(x.size)}
    return {"n": int(x.size), "mean_ms": float(x.mean()), "sd_ms": float(x.std(ddof=1)),
            "cv": float(x.std(ddof=1) / x.mean())}


# -- the runs ----------------------------------------------------------------------------------
def run_markov(hh, markov, area, n, t_win, burn, bias, seed, threads):
    """2n Markov neurons (halves A = 0..n-1, B = n..2n-1): result and wall time."""
    t_stop = burn + t_win
    ms = int(t_win * 0.3) + 32            # room for 300 Hz
    t0 = time.perf_counter()
    # the plan sizes the run (up to ~7e9 transitions at --scale 1, 300 µm²): no default budget
    res = markov(hh.step(amplitude=0.0), t_stop, seed=seed, area=np.full(2 * n, area),
                 bias=bias, window=(burn, t_stop), max_spikes=ms, num_threads=threads,
                 max_events=math.inf)
    return checked(res, f"markov {area:g} µm²"), time.perf_counter() - t0


def run_langevin(hh, model, area, n, t_win, burn, bias, seed, threads):
    t_stop = burn + t_win
    ms = int(t_win * 0.3) + 32
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", hh.TruncationWarning)
        res = hh.simulate(hh.step(), t_stop, channel_noise=model, area=np.full(n, area),
                          amplitude=0.0, bias=bias, window=(burn, t_stop), max_spikes=ms,
                          seed=seed, num_threads=threads)
    return checked(res, f"{model} {area:g} µm²"), time.perf_counter() - t0


def compare(hh, markov, area, n, t_win, burn, bias, seed, threads, n_lang):
    """Markov halves A, B and the three Langevin models at one area and current."""
    rm, wall = run_markov(hh, markov, area, n, t_win, burn, bias, seed, threads)
    A, B = np.arange(n), np.arange(n, 2 * n)
    ia, ib = isis(rm, A, burn), isis(rm, B, burn)
    r_m = rates(rm, np.arange(2 * n))
    row = {"area": area, "bias": bias, "window_ms": t_win, "markov_neurons": 2 * n,
           "markov_wall_s": wall, "markov_neuron_s_per_s": 2 * n * (burn + t_win) * 1e-3 / wall,
           "models": {}}
    m, se = mean_se(r_m)
    row["models"]["markov"] = {"rate_hz": m, "se_hz": se, "neurons": 2 * n,
                               "spikes": int(rm.window_count.sum()),
                               "isi": isi_summary(np.concatenate([ia, ib]))}
    enough = min(ia.size, ib.size) >= MIN_ISIS
    samples = {"markov": np.concatenate([ia, ib])}
    lang = {}
    for model in MODELS:
        rl, _ = run_langevin(hh, model, area, n_lang, t_win, burn, bias, seed + 1 + MODELS.index(model),
                             threads)
        r_l = rates(rl, np.arange(n_lang))
        m, se = mean_se(r_l)
        small = isis(rl, np.arange(n), burn)         # as many neurons x window as one half
        big = isis(rl, np.arange(n_lang), burn)
        lang[model] = (small, big)
        samples[model] = big
        row["models"][model] = {"rate_hz": m, "se_hz": se, "neurons": n_lang,
                                "isi": isi_summary(big)}
    if enough:
        edges = shared_bins(np.concatenate([ia, ib]), *[s for pair in lang.values() for s in pair])
        row["bins"] = {"n": int(edges.size - 1), "width_ms": float(edges[1] - edges[0])}
        row["L1_floor"] = l1(ia, ib, edges)
        for model, (small, big) in lang.items():
            row["models"][model]["L1"] = 0.5 * (l1(small, ia, edges) + l1(small, ib, edges))
            row["models"][model]["L1_big"] = l1(big, np.concatenate([ia, ib]), edges)
    return row, samples


def throughput(hh, area, width, t_ms, threads, bias):
    """neuron-s per wall-s of each Langevin model and of the euler kernel (best of 3)."""
    out = {}
    for model in (*MODELS, None):
        best = math.inf
        for rep in range(3):
            kw = {"channel_noise": model, "area": area} if model else {"method": "euler"}
            t0 = time.perf_counter()
            hh.simulate(hh.step(), t_ms, amplitude=np.zeros(width), bias=bias, max_spikes=0,
                        seed=rep, num_threads=threads, **kw)
            best = min(best, time.perf_counter() - t0)
        steps = width * round(t_ms / 0.01)
        out[model or "euler"] = {"neuron_s_per_s": width * t_ms * 1e-3 / best,
                                 "neuron_steps_per_s": steps / best, "wall_s": best}
    for model in MODELS:
        out[model]["x_euler"] = out[model]["neuron_s_per_s"] / out["euler"]["neuron_s_per_s"]
    return out


def dt_check(hh, areas, n, t_win, burn, threads, seed):
    """The channel model's spontaneous rate against its time step (is a gap to the Markov
    rate a step-size error?)."""
    out = []
    for area in areas:
        for dt in (0.01, 0.005, 0.0025):
            res = hh.simulate(hh.step(), burn + t_win, dt=dt, channel_noise="channel",
                              area=np.full(n, area), amplitude=0.0, window=(burn, burn + t_win),
                              max_spikes=0, seed=seed, num_threads=threads)
            m, se = mean_se(rates(res, np.arange(n)))
            out.append({"area": area, "dt": dt, "rate_hz": m, "se_hz": se, "neurons": n,
                        "window_ms": t_win})
            log(f"dt check {area:g} µm², dt {dt:g} ms: channel {m:.2f} ± {se:.2f} Hz")
    return out


def fi_section(hh, currents, trials, t_win, threads, seed):
    """Channel-model f–I curves per area, the deterministic one from rest, and its band."""
    burn = 100.0
    t_stop = burn + t_win
    cur = np.asarray(currents, dtype=float)
    out = {"currents": cur.tolist(), "window_ms": [burn, t_stop], "trials": trials, "areas": {}}
    det = hh.simulate(hh.step(), t_stop, method="euler", amplitude=cur, window=(burn, t_stop),
                      max_spikes=0, num_threads=threads)
    out["deterministic_rate_hz"] = rates(det, np.arange(cur.size)).tolist()
    fi = hh.fi_curve(np.linspace(0.0, 15.0, 61), branch="both")
    out["deterministic_band"] = None if fi.band is None else [float(x) for x in fi.band]
    fr = hh.fi_curve(np.linspace(0.0, 15.0, 61), branch="rest")
    out["deterministic_onset_from_rest"] = fr.onset
    for area in FI_AREAS:
        t0 = time.perf_counter()
        amp = np.repeat(cur, trials)
        res = hh.simulate(hh.step(), t_stop, channel_noise="channel", area=area, amplitude=amp,
                          window=(burn, t_stop), max_spikes=0, seed=seed, num_threads=threads)
        r = rates(res, np.arange(amp.size)).reshape(cur.size, trials)
        out["areas"][f"{area:g}"] = {"rate_hz": r.mean(1).tolist(),
                                     "se_hz": (r.std(1, ddof=1) / math.sqrt(trials)).tolist(),
                                     "fraction_firing": (r > 0).mean(1).tolist()}
        log(f"f–I {area:g} µm²: {amp.size} neurons in {time.perf_counter() - t0:.1f} s")
    return out


# -- output ------------------------------------------------------------------------------------
def fmt_rate(d):
    return f"{d['rate_hz']:.2f} ± {d['se_hz']:.2f}"


def fmt(x, nd=3):
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def table(res: dict) -> str:
    a = res["args"]
    L = ["# Channel noise: Langevin models against the exact Markov chain\n",
         f"Made by `benchmarks/channel_noise_validation.py` ({a['label']}, {a['threads']} "
         f"threads, {res['machine']}). Classic HH, 6.3 °C, ρNa = 60, ρK = 18 per µm², "
         f"dt = 0.01 ms (Euler–Maruyama; Markov voltage step 0.01 ms), burn-in {a['burn']:g} ms. "
         "L1 = Σ|p − q|·width of ISI histogram densities (range [0, 2]); model L1 = mean of "
         "its distances to two independent Markov halves A and B, its sample as large as one "
         "half; floor = L1(A, B), the sampling error alone; L1 big = the model's whole "
         "sample against A ∪ B.\n"]
    for key, title in (("spontaneous", "Spontaneous firing (I = 0)"),
                       ("driven", f"Driven: constant {a['bias']:g} µA/cm² from rest")):
        L.append(f"\n## {title}\n")
        L.append("| area µm² | Markov rate Hz (spikes, neurons × window) | channel | shielding | subunit |"
                 " ISIs A+B | bins (ms) | L1 floor | L1 channel | L1 shielding | L1 subunit |"
                 " L1 big ch / sh / su |")
        L.append("|" + "---|" * 12)
        for row in res[key]:
            M = row["models"]
            cells = [f"{row['area']:g}", f"{fmt_rate(M['markov'])} ({M['markov']['spikes']} "
                     f"spikes, {M['markov']['neurons']} × {row['window_ms'] / 1000:g} s)"]
            cells += [fmt_rate(M[m]) for m in MODELS]
            cells.append(str(M["markov"]["isi"]["n"]))
            if "L1_floor" in row:
                cells.append(f"{row['bins']['n']} × {row['bins']['width_ms']:.2f}")
                cells.append(fmt(row["L1_floor"]))
                cells += [fmt(M[m]["L1"]) for m in MODELS]
                cells.append(" / ".join(fmt(M[m]["L1_big"]) for m in MODELS))
            else:
                cells += [f"too few ISIs (< {MIN_ISIS} per half)"] + ["–"] * 5
            L.append("| " + " | ".join(cells) + " |")
        L.append("\nISI mean ms / CV: " + "; ".join(
            f"{row['area']:g} µm² " + ", ".join(
                f"{m} {fmt(row['models'][m]['isi'].get('mean_ms'), 1)}/"
                f"{fmt(row['models'][m]['isi'].get('cv'), 2)}" for m in ("markov", *MODELS))
            for row in res[key]))
    tp = res["throughput"]
    L.append(f"\n## Throughput ({a['width']} neurons, {a['tp_ms']:g} ms, {a['threads']} threads;"
             " best of 3; Markov: its driven runs)\n")
    L.append("| area µm² | channel neuron-s/s | shielding | subunit | euler (deterministic) |"
             " channel / shielding / subunit × euler | channel 10⁸ steps/s | Markov neuron-s/s |")
    L.append("|" + "---|" * 8)
    for row, drv in zip(tp, res["driven"], strict=True):
        cells = [f"{row['area']:g}"] + [f"{row[m]['neuron_s_per_s']:.0f}" for m in MODELS]
        cells.append(f"{row['euler']['neuron_s_per_s']:.0f}")
        cells.append(" / ".join(f"{row[m]['x_euler']:.2f}" for m in MODELS))
        cells.append(f"{row['channel']['neuron_steps_per_s'] / 1e8:.2f}")
        cells.append(f"{drv['markov_neuron_s_per_s']:.3g}")
        L.append("| " + " | ".join(cells) + " |")
    dc = res.get("dt_check")
    if dc:
        L.append("\n## Channel model, spontaneous rate against its time step\n")
        L.append("| area µm² | dt ms | rate Hz (mean ± SE) | neurons × window |")
        L.append("|---|---|---|---|")
        for r in dc:
            L.append(f"| {r['area']:g} | {r['dt']:g} | {r['rate_hz']:.2f} ± {r['se_hz']:.2f} | "
                     f"{r['neurons']} × {r['window_ms'] / 1000:g} s |")
    fi = res.get("fi")
    if fi:
        L.append(f"\n## f–I against area (channel model, {fi['trials']} trials per current, "
                 f"window {fi['window_ms'][0]:g}–{fi['window_ms'][1]:g} ms from rest)\n")
        band = fi["deterministic_band"]
        L.append("Deterministic HH (fi_curve): bistable band "
                 + ("none" if band is None else f"{band[0]:.2f}–{band[1]:.2f} µA/cm²")
                 + f", onset from rest {fmt(fi['deterministic_onset_from_rest'], 2)} µA/cm².\n")
        names = ["deterministic", *fi["areas"]]
        L.append("| I µA/cm² | " + " | ".join(
            n if n == "deterministic" else f"{n} µm²" for n in names) + " |")
        L.append("|" + "---|" * (len(names) + 1))
        for i, c in enumerate(fi["currents"]):
            cells = [f"{c:g}", f"{fi['deterministic_rate_hz'][i]:.1f}"]
            cells += [f"{fi['areas'][n]['rate_hz'][i]:.1f} ± {fi['areas'][n]['se_hz'][i]:.1f}"
                      for n in fi["areas"]]
            L.append("| " + " | ".join(cells) + " |")
    L.append(f"\nTotal wall time {res['wall_s']:.0f} s.\n")
    return "\n".join(L)


def figures(res: dict, samples: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"markov": "k", "channel": "C0", "shielding": "C2", "subunit": "C3"}
    fig, ax = plt.subplots(3, len(AREAS), figsize=(3.2 * len(AREAS), 9), squeeze=False)
    for j, area in enumerate(AREAS):
        for i, key in enumerate(("driven", "spontaneous")):
            s = samples[key][j]
            a = ax[i, j]
            ref = s["markov"]
            if ref.size < 2:
                a.text(0.5, 0.5, "too few ISIs", ha="center", transform=a.transAxes)
            else:
                hi = np.percentile(np.concatenate([ref, *[s[m] for m in MODELS if s[m].size]]),
                                   99)
                edges = np.linspace(0.0, hi, 61)
                for m in ("markov", *MODELS):
                    if s[m].size >= MIN_ISIS:
                        a.stairs(np.histogram(s[m], edges, density=True)[0], edges,
                                 color=colors[m], lw=2 if m == "markov" else 1.2, label=m)
            a.set(title=f"{area:g} µm², {key}", xlabel="ISI (ms)")
            if j == 0:
                a.set_ylabel("density (1/ms)")
        ax[0, 0].legend(fontsize=8)
    # spontaneous rate and driven L1 against area
    a = ax[2, 0]
    for m in ("markov", *MODELS):
        r = np.array([row["models"][m]["rate_hz"] for row in res["spontaneous"]])
        e = np.array([row["models"][m]["se_hz"] for row in res["spontaneous"]])
        a.errorbar(AREAS, r, yerr=2 * e, marker="o", color=colors[m], capsize=2, label=m)
    a.set(xscale="log", xlabel="area (µm²)", ylabel="rate at I = 0 (Hz, ± 2 SE)",
          title="spontaneous rate")
    a.legend(fontsize=8)
    for k, key in enumerate(("driven", "spontaneous")):
        a = ax[2, 1 + k]
        rows = [row for row in res[key] if "L1_floor" in row]
        x = [row["area"] for row in rows]
        a.plot(x, [row["L1_floor"] for row in rows], "k--", marker="s", label="floor (A vs B)")
        for m in MODELS:
            a.plot(x, [row["models"][m]["L1"] for row in rows], marker="o", color=colors[m],
                   label=m)
        a.set(xscale="log", yscale="log", xlabel="area (µm²)", ylabel="L1 to Markov",
              title=f"ISI L1, {key}")
        a.legend(fontsize=8)
    for a in ax[2, 3:]:
        a.axis("off")
    fig.tight_layout()
    fig.savefig(out / "channel_noise.png", dpi=110)
    plt.close(fig)

    fi = res.get("fi")
    if fi:
        fig, a = plt.subplots(figsize=(6.5, 4.2))
        cur = np.array(fi["currents"])
        a.plot(cur, fi["deterministic_rate_hz"], "k-", lw=2, label="deterministic, from rest")
        if fi["deterministic_band"]:
            a.axvspan(*fi["deterministic_band"], color="0.85", label="bistable band")
        for n, d in fi["areas"].items():
            a.errorbar(cur, d["rate_hz"], yerr=2 * np.array(d["se_hz"]), marker=".",
                       capsize=1.5, label=f"channel, {n} µm²")
        a.set(xlabel="current (µA/cm²)", ylabel="rate (Hz, ± 2 SE)",
              title="f–I curve against patch area (from rest)")
        a.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "channel_noise_fi.png", dpi=110)
        plt.close(fig)


# -- main --------------------------------------------------------------------------------------
def save(res: dict, out: Path) -> None:
    """Write ``channel_noise.json`` (called after every section)."""
    with open(out / "channel_noise.json", "w") as f:
        json.dump(res, f, indent=1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--threads", type=int, default=None, help="Numba threads (default all)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies every window duration (and so every cost)")
    ap.add_argument("--quick", action="store_true", help="smoke run: scale 0.05, coarse f–I")
    ap.add_argument("--bias", type=float, default=10.0, help="driving current (µA/cm²)")
    ap.add_argument("--burn", type=float, default=50.0, help="burn-in (ms)")
    ap.add_argument("--width", type=int, default=4096, help="throughput batch (neurons)")
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--no-fi", action="store_true", help="skip the f–I section")
    a = ap.parse_args(argv)
    if a.quick:
        a.scale = min(a.scale, 0.05)
    if not a.scale > 0:
        ap.error(f"--scale must be > 0, got {a.scale}")
    a.out.mkdir(parents=True, exist_ok=True)

    import numba

    import hhfast as hh
    from hhfast.reference import markov

    threads = a.threads or numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        ap.error(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}] (Numba's threads "
                 f"on this machine), got {threads}")
    T0 = time.perf_counter()
    log(f"compiling (threads {threads}, scale {a.scale:g})")
    markov(hh.step(amplitude=0.0), 1.0, seed=0, num_threads=threads)
    for m in MODELS:
        hh.simulate(hh.step(), 1.0, channel_noise=m, amplitude=0.0, num_threads=threads)
    hh.simulate(hh.step(), 1.0, method="euler", amplitude=0.0, num_threads=threads)
    log(f"compiled in {time.perf_counter() - T0:.0f} s")

    n_lang = LANGEVIN_NEURONS if not a.quick else 256
    res = {"args": {"label": "--quick" if a.quick else f"--scale {a.scale:g}", "threads": threads,
                    "scale": a.scale, "bias": a.bias, "burn": a.burn, "width": a.width,
                    "seed": a.seed, "langevin_neurons": n_lang},
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "spontaneous": [], "driven": [], "throughput": []}
    samples = {"spontaneous": [], "driven": []}
    seed = a.seed
    for key, plan, bias in (("spontaneous", PLAN_SPONT, 0.0), ("driven", PLAN_DRIVEN, a.bias)):
        for area in AREAS:
            n, t_win = plan[area]
            if a.quick:
                n = max(n // 4, 8)
            t_win = max(t_win * a.scale * (4 if a.quick else 1), 20.0)
            seed += 10
            row, s = compare(hh, markov, area, n, t_win, a.burn, bias, seed, threads, n_lang)
            res[key].append(row)
            samples[key].append(s)
            save(res, a.out)  # what is done survives a run cut short
            M = row["models"]
            log(f"{key} {area:g} µm² ({2 * n} Markov x {t_win:g} ms, "
                f"{row['markov_wall_s']:.1f} s): rates " + ", ".join(
                    f"{m} {M[m]['rate_hz']:.2f}±{M[m]['se_hz']:.2f}" for m in M)
                + ("" if "L1_floor" not in row else "; L1 floor {:.3f}, ".format(row["L1_floor"])
                   + ", ".join(f"{m} {M[m]['L1']:.3f}" for m in MODELS)))
    tp_ms = max(500.0 * a.scale, 20.0)
    res["args"]["tp_ms"] = tp_ms
    for area in AREAS:
        row = {"area": area, **throughput(hh, area, a.width, tp_ms, threads, a.bias)}
        res["throughput"].append(row)
        save(res, a.out)
        log(f"throughput {area:g} µm²: " + ", ".join(
            f"{m} {row[m]['neuron_s_per_s']:.0f}" for m in (*MODELS, "euler")) + " neuron-s/s")
    res["dt_check"] = dt_check(hh, (10.0, 30.0), 256 if a.quick else 512,
                               max(1000.0 * a.scale * (4 if a.quick else 1), 100.0), a.burn,
                               threads, seed + 50)
    if not a.no_fi:
        cur = np.arange(0.0, 15.01, 1.0 if a.quick else 0.5)
        trials = 16 if a.quick else 64
        res["fi"] = fi_section(hh, cur, trials, max(1000.0 * a.scale * (4 if a.quick else 1),
                                                    100.0), threads, seed + 100)
    res["wall_s"] = time.perf_counter() - T0
    save(res, a.out)
    (a.out / "channel_noise.md").write_text(table(res))
    figures(res, samples, a.out)
    log(f"wrote {a.out / 'channel_noise.md'}, .json, .png ({res['wall_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
