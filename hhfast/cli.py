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
