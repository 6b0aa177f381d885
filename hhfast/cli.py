"""The ``hhfast`` command: argument parsing and printing only (no numerics here)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from hhfast import config
from hhfast.errors import InputError

#: Exit status of an unexpected (internal) error, as sysexits' EX_SOFTWARE; user errors exit 2.
EXIT_INTERNAL = 70


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _save(fig, path, quiet: bool = False) -> None:
    """Write a figure as PNG (tight layout, 120 dpi) and say where."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    if not quiet:
        print(f"wrote {path}")


def _demo(args) -> int:
    from hhfast import plotting
    from hhfast.engine import simulate
    from hhfast.fi import fi_curve
    from hhfast.stimulus import gist

    out = Path(args.out)
    t0 = time.perf_counter()
    stim = gist()
    res = simulate(stim, t_stop=args.t_stop, dt=args.dt, method=args.method, record="V,n,m,h")
    elapsed = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)  # after the checks: no folder for refused input
    files = {
        "stimulus.png": plotting.stimulus_plot(res),
        "voltage.png": plotting.trace_plot(res),
        "phase.png": plotting.phase_plot(res),
    }
    for name, fig in files.items():
        _save(fig, out / name, quiet=True)
    times = ", ".join(f"{t:.4f}" for t in res.spike_times[0])
    print(f"gist two-pulse protocol, {args.method} dt={args.dt} ms, {args.t_stop} ms: "
          f"{int(res.spike_count[0])} spikes at {times} ms ({elapsed:.2f} s incl. compile)")
    t0 = time.perf_counter()
    currents = np.linspace(0.0, 30.0, 151)
    fi = fi_curve(currents, t_stop=1000.0, dt=args.dt, method=args.method, branch="both")
    elapsed = time.perf_counter() - t0
    files["fi.png"] = fig = fi.plot()
    _save(fig, out / "fi.png", quiet=True)
    print(f"f-I curve, {currents.size} currents x 2 branches, 1000 ms each: "
          f"{_fi_summary(fi)} ({elapsed:.2f} s)")
    for name in files:
        print(f"wrote {out / name}")
    return 0


def _fi_summary(fi) -> str:
    def f(v):
        return "none in range" if v is None else f"{v:.4f} µA/cm²"

    if fi.noisy:  # its edges are not located
        return (f"noisy curve: mean count rate (spikes / window) {fi.count_rate.min():.4g} to "
                f"{fi.count_rate.max():.4g} Hz over {fi.info['trials']} trial(s) per current "
                "(no onset or block)")
    text = f"onset {f(fi.onset)}, block {f(fi.block)}"
    if fi.branch == "both":
        band = "none" if fi.band is None else f"{fi.band[0]:.4f}–{fi.band[1]:.4f} µA/cm²"
        hopf = ", ".join(f"{h:.4f}" for h in fi.hopf) or "none in range"
        text += f", bistable band {band}, Hopf points {hopf}"
    return text


def _params(pairs) -> dict:
    """--param NAME=VALUE pairs -> dict of floats (names checked against the model fields)."""
    from hhfast.model import FIELDS

    out = {}
    for item in pairs or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in FIELDS:
            raise CLIError(f"--param expects NAME=VALUE with NAME one of {', '.join(FIELDS)}, "
                           f"got {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise CLIError(f"--param {name}: {value!r} is not a number") from None
    return out


def _preset(name: str):
    from hhfast.model import HHParams

    return HHParams.modern() if name == "modern" else HHParams.classic()


def _noise_args(p) -> None:
    """--noise-sigma, --noise-tau, --seed (docs/guide/noise.md)."""
    p.add_argument("--noise-sigma", type=float, default=0.0,
                   help="noise amplitude: white µA/cm²·ms^½, OU sd µA/cm² (default 0)")
    p.add_argument("--noise-tau", type=float, default=0.0,
                   help="OU correlation time in ms (default 0: white noise)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")


def _noise(args) -> dict:
    if args.noise_sigma == 0.0 and args.noise_tau == 0.0 and args.seed == 0:
        return {}
    return dict(noise_sigma=args.noise_sigma, noise_tau=args.noise_tau, seed=args.seed)


def _tolerance_args(p) -> None:
    """--rtol, --atol (dopri5 only)."""
    p.add_argument("--rtol", type=float,
                   help="relative tolerance of --method dopri5's step control (default "
                        f"{config.ADAPTIVE_RTOL:g}); refused with a fixed-step method")
    p.add_argument("--atol", type=float,
                   help="absolute tolerance of --method dopri5 (mV for V; default: --rtol); "
                        "refused with a fixed-step method")


def _tolerances(args) -> dict:
    """The dopri5 tolerances given; refused with a fixed-step method, whose accuracy is set by
    --dt (an ignored option would leave the user believing it acted)."""
    from hhfast.kernels import METHODS

    given = {k: v for k, v in (("rtol", args.rtol), ("atol", args.atol)) if v is not None}
    if given and METHODS[args.method].kind != "adaptive":
        names = " and ".join("--" + k for k in given)
        raise CLIError(f"{names} {'applies' if len(given) == 1 else 'apply'} only to an "
                       "adaptive method (--method dopri5); "
                       f"--method {args.method} is fixed-step: set its accuracy with --dt")
    return given


def _channel_args(p) -> None:
    """--channel-noise, --area, --rho-Na, --rho-K (docs/guide/channel-noise.md)."""
    from hhfast.kernels import CHANNELS

    p.add_argument("--channel-noise", choices=list(CHANNELS),
                   help="channel noise of a membrane patch: channel (channel-based Langevin), "
                        "shielding (stochastic shielding) or subunit (Fox-Lu); runs with "
                        "--method euler (default: none)")
    p.add_argument("--area", type=float,
                   help="patch area in µm² (with --channel-noise; default 100)")
    p.add_argument("--rho-Na", type=float,
                   help="Na channel density in channels per µm² (with --channel-noise; "
                        "default 60)")
    p.add_argument("--rho-K", type=float,
                   help="K channel density in channels per µm² (with --channel-noise; "
                        "default 18)")


def _channel(args) -> dict:
    """The channel-noise keywords of simulate/fi_curve; --area etc. refused without
    --channel-noise (the library checks the values)."""
    given = {k: v for k, v in (("area", args.area), ("rho_Na", args.rho_Na),
                               ("rho_K", args.rho_K)) if v is not None}
    if args.channel_noise is None:
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise CLIError(f"{names} only apply with --channel-noise "
                           f"{{channel,shielding,subunit}}")
        return {}
    return dict(channel_noise=args.channel_noise, **given)


def _method(args, channel: dict) -> str:
    """--method, defaulting to rk4, or to euler (Euler-Maruyama) with --channel-noise."""
    if args.method is None:
        return "euler" if channel else "rk4"
    if channel and args.method != "euler":
        raise CLIError(f"--channel-noise runs with --method euler (Euler-Maruyama), got "
                       f"--method {args.method}")
    return args.method


def _channel_summary(what: dict) -> str:
    """One line naming the channel noise of a run or curve (values as the library used)."""
    return (f"channel noise {what['channel_noise']}: area {what['area']:g} µm², rho_Na "
            f"{what['rho_Na']:g}, rho_K {what['rho_K']:g} channels per µm²")


def _fi(args) -> int:
    from hhfast.fi import fi_curve

    channel = _channel(args)
    args.method = _method(args, channel)
    _num(args.num)
    if not args.to > args.from_:
        raise CLIError(f"--to ({args.to}) must be greater than --from ({args.from_})")
    currents = np.linspace(args.from_, args.to, args.num)
    t0 = time.perf_counter()
    tolerances = _tolerances(args)
    fi = fi_curve(currents, t_stop=args.t_stop, dt=args.dt, method=args.method,
                  params=_preset(args.preset), branch=args.branch,
                  refine=not args.no_refine, backend=args.backend, **_params(args.param),
                  **_noise(args), **tolerances,
                  **({"trials": args.trials} if args.trials != 1 else {}), **channel)
    elapsed = time.perf_counter() - t0
    tol = "".join(f" {k}={v:g}" for k, v in tolerances.items())
    print(f"f-I curve ({args.branch}), {args.num} currents from {args.from_} to {args.to} "
          f"µA/cm², {args.method}{tol} dt={args.dt} ms, {args.t_stop} ms each: {elapsed:.2f} s")
    print(_fi_summary(fi))
    if channel:
        print(_channel_summary(fi.info))
    if args.out:
        fig = fi.plot()
        _save(fig, args.out)
    if args.csv:
        fi.to_csv(args.csv)
        print(f"wrote {args.csv}")
    return 0


def _rheobase(args) -> int:
    from hhfast import plotting
    from hhfast.excitability import rheobase
    from hhfast.stimulus import pulses

    args.method = args.method or "rk4"
    _num(args.num)
    if not 0 < args.width_from < args.width_to:
        raise CLIError(f"need 0 < --width-from < --width-to, got {args.width_from}, {args.width_to}")
    widths = np.geomspace(args.width_from, args.width_to, args.num)
    t0 = time.perf_counter()
    noise = _noise(args)
    # --trials, --level: passed on when given (the library refuses them without noise)
    noise.update({k: v for k, v in (("trials", args.trials), ("level", args.level))
                  if v is not None})
    thr = rheobase([pulses([(0.0, w, 1.0)]) for w in widths], hi=args.hi, dt=args.dt,
                   method=args.method, params=_preset(args.preset), backend=args.backend,
                   **_params(args.param),
                   **noise)
    what = (f", noisy: the current at which {noise.get('level', 0.5):g} of "
            f"{noise.get('trials', 1)} trials spike" if "noise_sigma" in noise else "")
    print(f"strength-duration, {args.num} pulse widths {args.width_from}-{args.width_to} ms, "
          f"{args.method} dt={args.dt} ms{what}: {time.perf_counter() - t0:.2f} s")
    for w, a in zip(widths, thr):
        print(f"  width {w:9.4f} ms  threshold {a:10.4f} µA/cm²")
    if args.out:
        fig = plotting.strength_duration_plot(widths, thr)
        _save(fig, args.out)
    if args.csv:
        _write_csv(Path(args.csv), [{"width_ms": w, "threshold_uA_cm2": a} for w, a in zip(widths, thr)])
        print(f"wrote {args.csv}")
    return 0


def _num(num: int) -> None:
    """--num of the fi and rheobase grids: 1 to config.CLI_MAX_POINTS."""
    from hhfast import config

    if not 1 <= num <= config.CLI_MAX_POINTS:
        raise CLIError(f"--num must be in 1..{config.CLI_MAX_POINTS} (config.CLI_MAX_POINTS), "
                       f"got {num}")


def _pulse(text: str):
    try:
        a, b, c = (float(x) for x in text.split(","))
    except ValueError:
        raise CLIError(f"--pulse expects START,STOP,AMP (ms, ms, µA/cm²), got {text!r}") from None
    return a, b, c


def _run(args) -> int:
    from hhfast import plotting
    from hhfast.engine import simulate
    from hhfast.stimulus import GIST_PULSES, pulses
    from hhfast.tables import trace_csv

    channel = _channel(args)
    args.method = _method(args, channel)
    pieces = [_pulse(x) for x in args.pulse or []]
    if args.step is not None:
        parts = args.step.split(",")
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            raise CLIError(f"--step expects AMP[,START[,STOP]], got {args.step!r}") from None
        if not 1 <= len(vals) <= 3:
            raise CLIError(f"--step expects AMP[,START[,STOP]], got {args.step!r}")
        amp, start, stop = (vals + [0.0, float("inf")][len(vals) - 1:])[:3]
        pieces.append((start, stop, amp))
    if not pieces:
        pieces = list(GIST_PULSES)
    stim = pulses(pieces)
    tolerances = _tolerances(args)
    initial = {k: v for k, v in (("V0", args.V0), ("n0", args.n0), ("m0", args.m0),
                                 ("h0", args.h0)) if v is not None}
    t0 = time.perf_counter()
    # with channel noise the state is V and the open fractions (the gates are not kept)
    record = "V,K_open,Na_open" if channel else "V,n,m,h"
    res = simulate(stim, t_stop=args.t_stop, dt=args.dt, method=args.method,
                   params=_preset(args.preset), record=record,
                   record_every=args.record_every, threshold=args.threshold,
                   spike_rearm=args.spike_rearm, backend=args.backend, **tolerances,
                   **_params(args.param), **initial, **_noise(args), **channel)
    elapsed = time.perf_counter() - t0
    times = ", ".join(f"{t:.4f}" for t in res.spike_times[0])
    tol = "".join(f" {k}={v:g}" for k, v in tolerances.items())
    print(f"{args.method}{tol} dt={args.dt} ms, {args.t_stop} ms: {int(res.spike_count[0])} spikes "
          f"at [{times}] ms, diverged: {bool(res.diverged[0])} ({elapsed:.2f} s)")
    if channel:
        used = {k: float(np.ravel(res.params[k])[0]) for k in ("area", "rho_Na", "rho_K")}
        print(_channel_summary({"channel_noise": channel["channel_noise"], **used}))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = plotting.trace_panel(res)
    _save(fig, out)
    if args.phase:  # V against the gates n, m (with channel noise: the open fractions)
        fig = plotting.phase_plot(res, gates=("K_open", "Na_open") if channel else ("n", "m"))
        _save(fig, args.phase)
    if args.csv:
        trace_csv(res, path=args.csv)
        print(f"wrote {args.csv}")
    return 0


def _fmt(x: float, spec: str = ".3g") -> str:
    """A number for a table: inf/NaN spelled out."""
    if x != x:
        return "-"
    if x == float("inf"):
        return "inf"
    return format(x, spec)


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _validate(args) -> int:
    from hhfast.accuracy import validate

    rows = validate(args.method, args.dt, spike_tol=args.spike_tol, v_tol=args.v_tol,
                    t_stop=args.t_stop, rtols=args.rtol)
    mw = max([9] + [len(m) for m in args.method])  # the longest method name
    head = f"{'case':20s} {'method':{mw}s} {'dt|rtol':>8s} {'max|dV| (mV)':>13s} " \
           f"{'spike err (ms)':>15s} {'spikes':>9s}  result"
    print(head)
    print("-" * len(head))
    for r in rows:
        counts = f"{r['count']}/{r['count_ref']}"
        knob = r["dt"] if r["dt"] == r["dt"] else r["rtol"]  # rtol for adaptive methods
        print(f"{r['case']:20s} {r['method']:{mw}s} {knob:8g} {_fmt(r['max_dV']):>13s} "
              f"{_fmt(r['spike_error']):>15s} {counts:>9s}  "
              f"{'ok' if r['passed'] else 'FAIL'}{'' if r['count_match'] else ' (spike count)'}")
    failed = sum(not r["passed"] for r in rows)
    print(f"{len(rows) - failed}/{len(rows)} passed (spike-time tolerance {args.spike_tol} ms, "
          f"|dV| tolerance {args.v_tol} mV, spike counts must match; reference scipy DOP853 "
          "rtol=atol=1e-10)")
    if args.csv:
        _write_csv(Path(args.csv), rows)
        print(f"wrote {args.csv}")
    return 1 if failed else 0


def _bench(args) -> int:
    if not args.work_precision:
        raise CLIError("nothing to run: pass --work-precision (throughput benchmarks: "
                       "python -m pytest benchmarks --benchmark-only)")
    from hhfast import plotting
    from hhfast.accuracy import cheapest, work_precision
    from hhfast.kernels import METHODS

    if args.n_neurons < 1 or args.n_ref < 1 or args.n_ref > args.n_neurons:
        raise CLIError(f"need 1 <= --n-ref <= --n-neurons, got {args.n_ref} and {args.n_neurons}")
    if args.t_stop <= 0:
        raise CLIError(f"--t-stop must be > 0 ms, got {args.t_stop}")
    dts = {m: METHODS[m].wp_range for m in args.method}
    if args.quick:  # a smoke run: every third dt of each method, no repeats, no scipy timing
        dts = {m: d[::3] for m, d in dts.items()}
    out = Path(args.out)
    rows = work_precision(args.method, dts, n_neurons=args.n_neurons, t_stop=args.t_stop,
                          n_ref=args.n_ref, repeats=1 if args.quick else args.repeats,
                          scipy_rtols=() if args.quick else (1e-3, 1e-5, 1e-7),
                          progress=lambda msg: print(msg, flush=True),
                          dtypes=(np.float64, np.float32) if args.float32 else (np.float64,))
    out.mkdir(parents=True, exist_ok=True)  # after the checks: no folder for refused input
    _write_csv(out / "work_precision.csv", rows)
    fig = plotting.work_precision_plot(rows)
    _save(fig, out / "work_precision.png", quiet=True)
    print(f"\ncheapest run per spike-time accuracy ({args.n_neurons} neurons, step currents "
          f"0-20 uA/cm2, {args.t_stop:g} ms; error: worst over all spikes of {args.n_ref} "
          "neurons vs scipy DOP853 rtol=1e-11)\n")
    print("| target (ms) | method | dt (ms) | worst error (ms) | cost (s per neuron-s) "
          "| scipy cost | speed-up vs scipy |")
    print("|---|---|---|---|---|---|---|")
    for r in cheapest(rows):
        if r["method"] is None:
            print(f"| {r['target']:g} | none of the runs | | | | {_fmt(r['scipy_cost'])} | |")
            continue
        knob = f"{r['dt']:g}" if r["dt"] == r["dt"] else f"rtol {r['rtol']:g}"
        print(f"| {r['target']:g} | {r['method']} | {knob} | {_fmt(r['spike_error'])} | "
              f"{_fmt(r['cost'])} | {_fmt(r['scipy_cost'])} | {_fmt(r['speedup'], '.0f')} |")
    print(f"\nwrote {out / 'work_precision.csv'}\nwrote {out / 'work_precision.png'}")
    return 0


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return v


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise CLIError(f"{path}: not valid TOML: {e}") from None


def _sweep(args) -> int:
    from hhfast.sweeps import sweep, sweep_from_spec

    if args.verify:
        if args.spec or args.plot:
            raise CLIError("--verify STORE takes no SPEC.toml and no --plot")
        return _verify_store(args.verify)
    if args.plot:
        if args.spec:
            raise CLIError("give either SPEC.toml or --plot STORE VAR, not both")
        return _sweep_plot(args)
    if not args.spec:
        raise CLIError("missing SPEC.toml (or --plot STORE VAR)")
    if args.workers is not None and args.scheduler:
        raise CLIError("give either --workers N (a local cluster) or --scheduler ADDRESS")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    spec_path = Path(args.spec)
    grid, kw = sweep_from_spec(_load_toml(spec_path))
    store = args.store or kw.pop("store", None) or spec_path.with_suffix(".zarr").name
    kw.pop("store", None)
    kw["store"] = store
    if args.backend is not None:  # --backend overrides the spec's
        kw["backend"] = args.backend
    t = kw.get("t_stop")
    chan = kw.get("channel_noise")
    method = kw.get("method", "euler" if chan else "rk4")
    print(f"sweep {spec_path.name}: {grid!r}, {method} dt={kw.get('dt', 0.01)} ms, "
          f"t_stop={t} ms" + (f", channel noise {chan}" if chan else ""))
    client = cluster = None
    try:
        if args.scheduler or args.workers is not None:
            from distributed import Client, LocalCluster

            if args.scheduler:
                try:
                    client = Client(args.scheduler)
                except (ValueError, TypeError, OSError) as e:  # a malformed or dead address
                    raise CLIError(f"--scheduler {args.scheduler!r}: cannot connect to a Dask "
                                   f"scheduler there ({e})") from None
            else:
                cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True)
                client = Client(cluster)
            print(f"dask: {len(client.nthreads())} workers ({client.dashboard_link})")
        t0 = time.perf_counter()
        ds = sweep(grid, client=client, progress=not args.no_progress,
                   overwrite=args.overwrite, **kw)
        elapsed = time.perf_counter() - t0
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    done = int(ds["done"].sum())
    print(f"{done} of {grid.size} points done in {elapsed:.1f} s")
    # "rate": the count rate of a store made before issue 18 (docs/architecture.md §5)
    for name in ("spike_count", "count_rate", "rate", "sustained_rate", "diverged"):
        if name in ds:
            v = ds[name].where(ds["done"])
            print(f"  {name}: min {float(v.min()):.4g}, max {float(v.max()):.4g}, "
                  f"mean {float(v.mean()):.4g}")
    shown = next((v for v in ("count_rate", "rate", "sustained_rate", "isi_rate") if v in ds),
                 "spike_count")
    print(f"store: {store}  (hhfast.open_sweep({str(store)!r}); "
          f"plot: hhfast sweep --plot {store} {shown})")
    return 0


def _fit(args) -> int:
    """``hhfast fit SPEC.toml``: run the fit the spec describes; print progress and the
    result, write it as JSON and a PNG."""
    import json

    from hhfast.fitting import fit
    from hhfast.fitting.spec import fit_from_spec

    spec_path = Path(args.spec)
    kw, out = fit_from_spec(_load_toml(spec_path), base=spec_path.parent)
    out = Path(args.out or out or spec_path.with_suffix("").name + "-fit")
    names = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in kw["bounds"].items())
    print(f"fit {spec_path.name}: {len(kw['protocols'])} protocol(s), {names}; "
          f"{kw.get('optimizer', 'cma')}, max_evals={kw.get('max_evals', 2000)}, "
          f"seed={kw.get('seed', 0)}")
    def show(generation, evaluations, best):  # a line every 10 generations, on stderr
        if generation == 1 or generation % 10 == 0:
            print(f"fit: generation {generation}, {evaluations} evaluations, best loss "
                  f"{best:.4g}", file=sys.stderr, flush=True)

    res = fit(progress=None if args.no_progress else show, **kw)
    print(f"best loss {res.loss:.4g} after {res.evaluations} evaluations, {res.generations} "
          f"generations, {res.wall_time:.1f} s ({res.message})")
    for k, v in res.best.items():
        print(f"  {k} = {v:.6g}")
    for k, errs in enumerate(res.errors):
        worst = max(errs, key=errs.get)
        print(f"  protocol {k}: worst feature {worst} z = {errs[worst]:.3g}")
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(res.to_dict(), indent=1))
    print(f"wrote {json_path}")
    _save(res.plot(), out.with_suffix(".png"))
    return 0


def _verify(args) -> int:
    return _verify_store(args.store)


def _verify_store(store: str) -> int:
    """``hhfast verify STORE`` / ``hhfast sweep --verify STORE``: exit 1 if anything is
    damaged (chunks, marked not done; or the metadata, reported with the recovery)."""
    from hhfast.sweeps import verify_sweep
    from hhfast.sweeps.store import DamagedStoreError

    try:
        damaged = verify_sweep(store)
    except DamagedStoreError as e:  # damaged metadata: a report, exit 1 as for chunks
        print(f"{store}: damaged metadata:")
        for problem in e.problems:
            print(f"  {problem}")
        print(e.recovery)
        return 1
    for d in damaged:
        print(d)
    for note in getattr(damaged, "notes", ()):
        print(f"note: {note}")
    print(f"{store}: {len(damaged)} damaged chunks" + (
        " marked not done: run the sweep again to recompute them" if damaged
        else " (no damaged chunks)"))
    return 1 if damaged else 0


def _sweep_plot(args) -> int:
    from hhfast import plotting
    from hhfast.sweeps import open_sweep

    store, var = args.plot
    ds = open_sweep(store)
    for item in args.sel or []:
        name, eq, value = item.partition("=")
        if not eq or name not in ds.indexes:
            raise CLIError(f"--sel must be AXIS=VALUE with AXIS one of {list(ds.indexes)}, "
                           f"got {item!r}")
        try:
            ds = ds.sel({name: float(value)}, method="nearest")
        except ValueError:
            raise CLIError(f"--sel {item!r}: VALUE must be a number") from None
    fig = plotting.sweep_plot(ds, var)
    out = Path(args.out or f"{Path(store).stem}-{var}.png")
    _save(fig, out)
    return 0


def _explore(args) -> int:
    from hhfast.explorer import serve
    from hhfast.explorer.app import require_panel

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be in 0..65535, got {args.port}")
    require_panel()  # one line naming the extra if Panel is missing
    serve(port=args.port, open_browser=not args.no_browser, address=args.address,
          allow_hosts=args.allow_host or (),
          on_start=lambda url: print(f"hhfast explorer at {url}  (Ctrl-C stops it)", flush=True))
    # the server has stopped (Ctrl-C or SIGTERM) and its f–I worker process is gone: end the
    # process now, as a service manager expects, instead of after the interpreter's teardown
    # of Panel, Bokeh and Numba (~5 s measured on a loaded 2-core machine)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _warmup(args) -> int:
    from hhfast.engine import warmup

    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    models = args.channel_noise
    if models == []:  # --channel-noise alone: every model
        from hhfast.kernels import CHANNELS

        models = list(CHANNELS)
    spent = warmup(methods=args.method, dtypes=dtypes, progress=not args.no_progress,
                   channel_noise=models or (), noise=not args.no_noise,
                   features=args.features)
    for (m, d), sec in spent.items():
        print(f"{m:24s} {d:8s} {sec:7.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hhfast.engine import BACKENDS
    from hhfast.kernels import CHANNELS, METHODS

    backends = list(BACKENDS)  # the registry, read when the parser is built
    parser = argparse.ArgumentParser(
        prog="hhfast", description="Fast batch integration of the Hodgkin-Huxley model."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the gist's two-pulse run and an f-I curve, as PNGs")
    p.add_argument("--out", default="hhfast-out", help="folder for the figures (%(default)s)")
    methods = list(METHODS)  # the registry, read when the parser is built
    p.add_argument("--method", default="rk4", choices=methods)
    p.add_argument("--dt", type=float, default=0.01, help="time step in ms")
    p.add_argument("--t-stop", type=float, default=50.0, help="duration in ms")
    p.set_defaults(func=_demo)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--method", choices=methods,
                        help="integration method (default rk4; euler with --channel-noise)")
    common.add_argument("--dt", type=float, default=0.01, help="time step in ms (default 0.01)")
    common.add_argument("--preset", default="classic", choices=["classic", "modern"],
                        help="parameter set: classic (rest = 0 mV) or modern (rest = -65 mV)")
    common.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a model parameter, e.g. gK=30 or temperature=10 (repeatable)")
    common.add_argument("--backend", choices=backends, default="cpu",
                        help="where the runs go: cpu (default) or cuda (an NVIDIA GPU)")

    p = sub.add_parser("fi", parents=[common], help="f-I curve over a range of constant currents")
    p.add_argument("--from", dest="from_", type=float, default=0.0,
                   help="lowest current, µA/cm² (default 0)")
    p.add_argument("--to", type=float, default=50.0, help="highest current, µA/cm² (default 50)")
    p.add_argument("--num", type=int, default=501, help="number of currents (default 501)")
    p.add_argument("--branch", default="rest", choices=["rest", "both"],
                   help="rest: step from rest; both: quiet and firing branches + bistable band")
    p.add_argument("--t-stop", type=float, default=1000.0,
                   help="ms at each current (default 1000; the rate, 1 / mean ISI where the "
                        "firing is sustained, over the last half)")
    p.add_argument("--no-refine", action="store_true",
                   help="skip the bisection of onset, block and band edges")
    p.add_argument("--out", help="PNG of the curve")
    p.add_argument("--csv", help="CSV of the curve")
    _noise_args(p)
    p.add_argument("--trials", type=int, default=1,
                   help="noisy trials per current (the curve is then the mean count rate, "
                        "spikes / window; default 1)")
    _channel_args(p)
    _tolerance_args(p)
    p.set_defaults(func=_fi)

    p = sub.add_parser("rheobase", parents=[common],
                       help="strength-duration curve: rheobase of square pulses of many widths")
    p.add_argument("--width-from", type=float, default=0.05, help="shortest pulse, ms")
    p.add_argument("--width-to", type=float, default=20.0, help="longest pulse, ms")
    p.add_argument("--num", type=int, default=12, help="number of widths (geometric spacing)")
    p.add_argument("--hi", type=float, default=500.0,
                   help="upper end of the amplitude bracket, µA/cm² (default 500)")
    p.add_argument("--out", help="PNG of the strength-duration curve")
    p.add_argument("--csv", help="CSV of width, threshold")
    _noise_args(p)
    p.add_argument("--trials", type=int,
                   help="with noise: trials per width and amplitude (default 1)")
    p.add_argument("--level", type=float,
                   help="with noise: the fraction of the trials that must spike (default 0.5; "
                        "the noisy rheobase is where the probability of firing crosses it)")
    p.set_defaults(func=_rheobase)

    p = sub.add_parser("run", parents=[common],
                       help="one custom run: stimulus, V and gates figure, CSV of the trace")
    p.add_argument("--pulse", action="append", metavar="START,STOP,AMP",
                   help="rectangular pulse (ms, ms, µA/cm²), repeatable; default: the gist's "
                        "0,1,150 and 10,11,50")
    p.add_argument("--step", metavar="AMP[,START[,STOP]]",
                   help="constant current AMP µA/cm² from START (default 0) to STOP (default "
                        "never off)")
    p.add_argument("--t-stop", type=float, default=50.0, help="duration in ms (default 50)")
    for name, what in (("V0", "initial V (mV)"), ("n0", "initial n"), ("m0", "initial m"),
                       ("h0", "initial h")):
        p.add_argument(f"--{name}", type=float, help=f"{what} (default: rest)")
    p.add_argument("--threshold", type=float, help="spike threshold in mV (default rest + 50)")
    p.add_argument("--spike-rearm", type=float, metavar="MV",
                   help="re-arm margin: after a spike V must fall this many mV below the "
                        f"threshold before the next one counts (default "
                        f"{config.SPIKE_REARM_MV:g})")
    p.add_argument("--record-every", type=int, default=1, help="keep every k-th step")
    _noise_args(p)
    _channel_args(p)
    _tolerance_args(p)
    p.add_argument("--out", default="hhfast-out/run.png", help="trace figure (PNG)")
    p.add_argument("--phase", help="phase-plane figure V-n, V-m (PNG; V-K_open, V-Na_open "
                   "with --channel-noise)")
    p.add_argument("--csv", help="CSV of t, I, V, n, m, h (t, I, V, K_open, Na_open with "
                   "--channel-noise)")
    p.set_defaults(func=_run)
    p = sub.add_parser(
        "validate",
        help="compare methods with the scipy reference on the gist and constant-current cases; "
             "exit 1 if a tolerance is exceeded",
    )
    p.add_argument("--method", nargs="+", default=["rk4"], choices=methods)
    p.add_argument("--dt", nargs="+", type=_positive_float, default=[0.01], help="time step(s), ms")
    p.add_argument("--rtol", nargs="+", type=_positive_float, default=[1e-8],
                   help="tolerance(s) of adaptive methods (rtol = atol; default %(default)s)")
    p.add_argument("--spike-tol", type=_positive_float, default=0.01,
                   help="largest spike-time error, ms (default %(default)s)")
    p.add_argument("--v-tol", type=_positive_float, default=1.0,
                   help="largest max |dV|, mV (default %(default)s)")
    p.add_argument("--t-stop", type=_positive_float, default=100.0,
                   help="duration of the constant-current cases, ms (default %(default)s)")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.set_defaults(func=_validate)

    p = sub.add_parser("bench", help="benchmarks: --work-precision (error vs cost, CSV + PNG)")
    p.add_argument("--work-precision", action="store_true",
                   help="spike-time error against cost for every method and dt")
    p.add_argument("--method", nargs="+", default=methods, choices=methods)
    p.add_argument("--n-neurons", type=int, default=1000, help="batch size (default %(default)s)")
    p.add_argument("--n-ref", type=int, default=20,
                   help="neurons compared with the scipy reference (default %(default)s)")
    p.add_argument("--t-stop", type=float, default=200.0, help="duration, ms (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per point (median)")
    p.add_argument("--quick", action="store_true",
                   help="every third dt, one run each, no scipy timing")
    p.add_argument("--float32", action="store_true",
                   help="also run the float32 kernels (dtype=np.float32)")
    p.add_argument("--out", default="hhfast-out", help="folder for CSV and PNG")
    p.set_defaults(func=_bench)

    p = sub.add_parser(
        "sweep",
        help="run a parameter sweep from a TOML spec into a resumable Zarr store, or plot one",
        description="Run the sweep described by SPEC.toml (see examples/sweep.toml) into a "
        "Zarr store (re-running resumes), with --plot STORE VAR draw one metric, or with "
        "--verify STORE check a store's chunks.",
    )
    p.add_argument("spec", nargs="?", help="the sweep spec (TOML)")
    p.add_argument("--store", help="Zarr store path or URL (default: spec's 'store', else "
                   "SPEC.zarr)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler")
    p.add_argument("--workers", type=int, help="start a local Dask cluster of N worker processes")
    p.add_argument("--overwrite", action="store_true", help="replace a store holding another spec "
                   "(or an interrupted creation); never one another sweep is writing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--backend", choices=backends,
                   help="where the batches run (default: the spec's 'backend', else cpu)")
    p.add_argument("--plot", nargs=2, metavar=("STORE", "VAR"), help="plot metric VAR of STORE")
    p.add_argument("--verify", metavar="STORE",
                   help="check STORE's metadata and read every done chunk; print the damaged "
                   "ones (missing, truncated, altered, moved or swapped) and mark them not done "
                   "so that the next run recomputes them, or report damaged metadata and how "
                   "to recover; exit status 1 if anything is damaged, 0 if not")
    p.add_argument("--sel", action="append", metavar="AXIS=VALUE",
                   help="with --plot: fix an axis at its nearest value (repeatable)")
    p.add_argument("--out", help="with --plot: PNG file (default STORE-VAR.png)")
    p.set_defaults(func=_sweep)

    p = sub.add_parser(
        "fit", help="fit parameters to target features (CMA-ES or differential evolution)",
        description="Run the fit described by SPEC.toml (see examples/fit.toml): bounds, "
        "protocols with target features or recorded traces, the optimiser.  Writes the result "
        "as OUT.json and OUT.png (needs the 'fit' extra: pip install 'hhfast[fit]').")
    p.add_argument("spec", help="the fit spec (TOML)")
    p.add_argument("--out", help="file prefix of the result (default: spec's 'out', else "
                   "SPEC-fit)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    p.set_defaults(func=_fit)

    p = sub.add_parser("explore", help="the interactive explorer in your web browser",
                       description="Serve the interactive explorer (needs the 'explore' extra: "
                       "pip install 'hhfast[explore]') and print its URL.")
    p.add_argument("--port", type=int, default=5006, help="port (0 picks a free one; default 5006)")
    p.add_argument("--address", default="localhost", help="address to listen on")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="a further host name the page may be opened by (repeatable); requests "
                   "naming any other Host are refused")
    p.set_defaults(func=_explore)

    from hhfast.kernels import METHODS

    p = sub.add_parser("warmup", help="compile the kernels now (first use), with a progress bar",
                       description="Compile (or load from Numba's cache) the kernels named, so "
                       "later runs start at once; prints the seconds per kernel.")
    p.add_argument("--method", nargs="+", choices=list(METHODS), default=None,
                   help="methods (default all)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--channel-noise", nargs="*", choices=list(CHANNELS), default=None,
                   help="also the kernels of these channel-noise models (given alone: all)")
    p.add_argument("--no-noise", action="store_true",
                   help="not the current-noise kernels (prepared by default)")
    p.add_argument("--features", action="store_true",
                   help="also the kernels with the features term (simulate(features=...), fit)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_warmup)

    p = sub.add_parser("verify", help="check a sweep store (as hhfast sweep --verify STORE)",
                       description="Check a sweep store's metadata and every done chunk; mark "
                       "damaged chunks not done (the next run of the sweep recomputes them) or "
                       "report damaged metadata and how to recover.  Exit status 1 if anything "
                       "is damaged, 0 if not.")
    p.add_argument("store", help="the sweep store (Zarr path or URL)")
    p.set_defaults(func=_verify)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # the CLI only writes files: never open a window
    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"hhfast {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():  # restores the previous display on the way out
            warnings.showwarning = one_line
            return args.func(args)
    except (CLIError, InputError, OSError, ModuleNotFoundError) as e:
        # the user's input, files or installation: one line, no traceback
        print(f"hhfast {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the one place that sorts errors for the user
        # every input check raises InputError (tests/test_inputs.py holds the package to it):
        # anything else, a plain ValueError included, is a bug and gets the traceback
        traceback.print_exc()
        print(f"hhfast {args.command}: internal error ({type(e).__name__}): this looks like a "
              "bug in hhfast, not a problem with your input; please report it with the "
              "traceback above and the command line", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
