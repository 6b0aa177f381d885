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
    import hhfast as hh
    from hhfast.sweeps import sweep_from_spec

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
    t = kw.get("t_stop")
    print(f"sweep {spec_path.name}: {grid!r}, {kw.get('method', 'rk4')} "
          f"dt={kw.get('dt', 0.01)} ms, t_stop={t} ms")
    client = cluster = None
    try:
        if args.scheduler or args.workers is not None:
            from distributed import Client, LocalCluster

            if args.scheduler:
                client = Client(args.scheduler)
            else:
                cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                       processes=True)
                client = Client(cluster)
            print(f"dask: {len(client.nthreads())} workers ({client.dashboard_link})")
        t0 = time.perf_counter()
        ds = hh.sweep(grid, client=client, progress=not args.no_progress,
                      overwrite=args.overwrite, **kw)
        elapsed = time.perf_counter() - t0
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    done = int(ds["done"].sum())
    print(f"{done} of {grid.size} points done in {elapsed:.1f} s")
    for name in ("spike_count", "rate", "diverged"):
        if name in ds:
            v = ds[name].where(ds["done"])
            print(f"  {name}: min {float(v.min()):.4g}, max {float(v.max()):.4g}, "
                  f"mean {float(v.mean()):.4g}")
    print(f"store: {store}  (hhfast.open_sweep({str(store)!r}); "
          f"plot: hhfast sweep --plot {store} rate)")
    return 0


def _sweep_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import hhfast as hh
    from hhfast import plotting

    store, var = args.plot
    ds = hh.open_sweep(store)
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
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
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

    p = sub.add_parser(
        "sweep",
        help="run a parameter sweep from a TOML spec into a resumable Zarr store, or plot one",
        description="Run the sweep described by SPEC.toml (see examples/sweep.toml) into a "
        "Zarr store (re-running resumes), or with --plot STORE VAR draw one metric.",
    )
    p.add_argument("spec", nargs="?", help="the sweep spec (TOML)")
    p.add_argument("--store", help="Zarr store path or URL (default: spec's 'store', else "
                   "SPEC.zarr)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler")
    p.add_argument("--workers", type=int, help="start a local Dask cluster of N worker processes")
    p.add_argument("--overwrite", action="store_true", help="replace a store holding another spec")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", nargs=2, metavar=("STORE", "VAR"), help="plot metric VAR of STORE")
    p.add_argument("--sel", action="append", metavar="AXIS=VALUE",
                   help="with --plot: fix an axis at its nearest value (repeatable)")
    p.add_argument("--out", help="with --plot: PNG file (default STORE-VAR.png)")
    p.set_defaults(func=_sweep)
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
