"""The ``hhfast`` command: argument parsing and printing only (no numerics here)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import hhfast as hh
    from hhfast import plotting

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stim = hh.pulses([(0, 1, 150), (10, 11, 50)])
    res = hh.simulate(stim, t_stop=args.t_stop, dt=args.dt, method=args.method, record="V,n,m,h")
    elapsed = time.perf_counter() - t0
    files = {
        "stimulus.png": plotting.stimulus_plot(res),
        "voltage.png": plotting.trace_plot(res),
        "phase.png": plotting.phase_plot(res),
    }
    for name, fig in files.items():
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
    times = ", ".join(f"{t:.4f}" for t in res.spike_times[0])
    print(f"gist two-pulse protocol, {args.method} dt={args.dt} ms, {args.t_stop} ms: "
          f"{int(res.spike_count[0])} spikes at {times} ms ({elapsed:.2f} s incl. compile)")
    for name in files:
        print(f"wrote {out / name}")
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
                    t_stop=args.t_stop)
    head = f"{'case':20s} {'method':9s} {'dt (ms)':>8s} {'max|dV| (mV)':>13s} " \
           f"{'spike err (ms)':>15s} {'spikes':>9s}  result"
    print(head)
    print("-" * len(head))
    for r in rows:
        counts = f"{r['count']}/{r['count_ref']}"
        print(f"{r['case']:20s} {r['method']:9s} {r['dt']:8g} {_fmt(r['max_dV']):>13s} "
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
    import matplotlib

    matplotlib.use("Agg")
    from hhfast import plotting
    from hhfast.accuracy import DEFAULT_WP_DTS, cheapest, work_precision

    if args.n_neurons < 1 or args.n_ref < 1 or args.n_ref > args.n_neurons:
        raise CLIError(f"need 1 <= --n-ref <= --n-neurons, got {args.n_ref} and {args.n_neurons}")
    if args.t_stop <= 0:
        raise CLIError(f"--t-stop must be > 0 ms, got {args.t_stop}")
    dts = {m: DEFAULT_WP_DTS[m] for m in args.method}
    if args.quick:  # a smoke run: every third dt of each method, no repeats, no scipy timing
        dts = {m: d[::3] for m, d in dts.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = work_precision(args.method, dts, n_neurons=args.n_neurons, t_stop=args.t_stop,
                          n_ref=args.n_ref, repeats=1 if args.quick else args.repeats,
                          scipy_rtols=() if args.quick else (1e-3, 1e-5, 1e-7),
                          progress=lambda msg: print(msg, flush=True))
    _write_csv(out / "work_precision.csv", rows)
    fig = plotting.work_precision_plot(rows)
    fig.tight_layout()
    fig.savefig(out / "work_precision.png", dpi=120)
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
        print(f"| {r['target']:g} | {r['method']} | {r['dt']:g} | {_fmt(r['spike_error'])} | "
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hhfast", description="Fast batch integration of the Hodgkin-Huxley model."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the gist's two-pulse run: stimulus, Vm and phase-plane PNGs")
    p.add_argument("--out", default="hhfast-out", help="folder for the figures (default %(default)s)")
    p.add_argument("--method", default="rk4", choices=["rk4", "euler", "expeuler"])
    p.add_argument("--dt", type=float, default=0.01, help="time step in ms")
    p.add_argument("--t-stop", type=float, default=50.0, help="duration in ms")
    p.set_defaults(func=_demo)

    methods = ["euler", "expeuler", "rk4"]
    p = sub.add_parser(
        "validate",
        help="compare methods with the scipy reference on the gist and constant-current cases; "
             "exit 1 if a tolerance is exceeded",
    )
    p.add_argument("--method", nargs="+", default=["rk4"], choices=methods)
    p.add_argument("--dt", nargs="+", type=_positive_float, default=[0.01], help="time step(s), ms")
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
    p.add_argument("--out", default="hhfast-out", help="folder for CSV and PNG")
    p.set_defaults(func=_bench)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, ValueError, TypeError, OSError) as e:
        print(f"hhfast {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
