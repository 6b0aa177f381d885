"""A sweep's spec: the metrics on offer, validation of every argument before anything is
touched, the store attributes and layout, and the TOML/JSON spec as data."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from .. import _checks as C
from .. import analysis, config
from .._checks import PER_NEURON
from .._version import __version__
from ..engine import BACKENDS
from ..errors import InputTypeError, InputValueError, warn_renamed
from ..model import FIELDS, HHParams, check_params
from ..noise import check_seed
from ..result import COUNT_RATE_IS, RENAMED_METRICS
from ..stimulus import Stimulus
from .grid import STIM_PREFIX, Grid, LinearAxis, _check_axis_name, _path, _set_path, grid

#: metric -> (dtype, store fill value, units, description).  Fill values are what unfinished
#: points read as; ``done`` marks the finished ones.
_ALL_METRICS = {
    "spike_count": ("int64", -1, "1", "upward threshold crossings over the whole run"),
    "count_rate": ("float64", np.nan, "Hz",
                   "count rate: spikes in the analysis window / window duration"),
    # the old name of count_rate: still offered (with a RenamedWarning) and readable in stores
    # that hold it, never a default
    "rate": ("float64", np.nan, "Hz", "spikes in the analysis window / window duration "
             "(count_rate under its old name)"),
    "isi_rate": ("float64", np.nan, "Hz", "ISI rate: 1 / mean inter-spike interval in the window"),
    "isi_mean": ("float64", np.nan, "ms", "mean inter-spike interval in the window"),
    "isi_cv": ("float64", np.nan, "1", "coefficient of variation of the ISIs in the window"),
    "first_spike": ("float64", np.nan, "ms", "time of the first spike"),
    "latency": ("float64", np.nan, "ms", "first spike time minus stimulus onset"),
    "pattern": ("int8", -1, "1", "firing pattern: 0 quiet, 1 transient, 2 sustained"),
    "sustained_rate": ("float64", np.nan, "Hz", "isi_rate where firing is sustained, else 0"),
    "diverged": ("bool", False, "1", "the state stopped being finite (neuron frozen)"),
    "diverged_time": ("float64", np.nan, "ms", "end of the step where the state blew up"),
    "spike_times": ("float64", np.nan, "ms", "first max_spikes spike times (dimension spike)"),
}
#: Metrics of ``window_metrics`` that the f–I work adds to analysis.py (developed alongside):
#: offered exactly when analysis.py has them, so that the defaults always equal its metrics.
_FI_METRICS = {"latency": "latency", "pattern": "firing_pattern",
               "sustained_rate": "sustained_rate"}
METRICS = {k: v for k, v in _ALL_METRICS.items()
           if k not in _FI_METRICS or hasattr(analysis, _FI_METRICS[k])}
#: The metrics a sweep keeps by default: those of :func:`hhfast.analysis.window_metrics`.
DEFAULT_METRICS = tuple(k for k in METRICS
                        if k not in ("diverged_time", "spike_times", *RENAMED_METRICS))


# -- spec: validation and attributes ---------------------------------------------------------------
def _check_spec(grid, stimulus, t_stop, dt, method, params, metrics, window, max_spikes, fixed,
                channel_noise=None, rtol=None, atol=None,
                backend="cpu"):
    """Validate everything before any store is touched or kernel compiled; return the spec
    (``_``-prefixed entries are for the run, the others become store attributes)."""
    method, channel_noise = C.method_and_channel(method, channel_noise)
    dt = C.real("dt", dt, positive=True)
    t_stop = C.real("t_stop", t_stop)
    if t_stop < dt * (1 - 1e-9):
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be at least one step (dt={dt!r} ms)")
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise InputTypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    n_steps = C.n_steps(0.0, t_stop, dt)  # as simulate() counts them
    t_end = n_steps * dt
    win = C.window_in_run(window, t_end)  # as the SimResult reports it: equal windows

    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise InputTypeError(f"metrics must be a non-empty list of names from {list(METRICS)}, "
                        f"got {metrics!r}")
    for m in metrics:
        if not isinstance(m, str) or m not in METRICS:
            raise InputValueError(f"metrics: unknown metric {m!r}; choose from {list(METRICS)}")
    if len(set(metrics)) != len(metrics):
        raise InputValueError(f"metrics names a metric twice: {list(metrics)!r}")
    for old, new in RENAMED_METRICS.items():
        if old in metrics:
            if new in metrics:
                raise InputValueError(f"metrics names {new!r} twice: as {new!r} and as its old "
                                      f"name {old!r}")
            # at the caller of sweep(): _check_spec <- sweep <- the user
            warn_renamed(f"the metric {old!r}", repr(new), f"{COUNT_RATE_IS}; this store "
                         f"will hold it as {old!r}", stacklevel=3)
    keep = "spike_times" in metrics
    max_spikes = C.integer("max_spikes", max_spikes, 1 if keep else 0)  # checked even if unused
    if not keep:
        max_spikes = 0

    fixed = dict(fixed)
    seed = check_seed(fixed.pop("seed", 0))  # the noise seed (simulate's seed=)
    for k, v in fixed.items():
        if k not in PER_NEURON:
            raise InputTypeError(f"sweep() got an unexpected keyword argument {k!r}; fixed per-neuron "
                            f"values are {list(PER_NEURON)}")
        if k in grid.axes:
            raise InputValueError(f"{k!r} is both a grid axis and a fixed value")
        arr = C.per_neuron_array(k, v)
        if arr.ndim:
            raise InputValueError(f"fixed value {k} must be a scalar (make it a grid axis), got "
                             f"shape {arr.shape}")
        C.range_check(k, arr)
    fixed = {k: float(v) for k, v in fixed.items()}

    stim_axes = [n for n in grid.names if n.startswith(STIM_PREFIX)]
    if isinstance(stimulus, Stimulus):
        stim_spec = stimulus.to_spec()
    elif isinstance(stimulus, Mapping):
        stim_spec = json.loads(json.dumps(dict(stimulus)))  # plain data, and a deep copy
        Stimulus.from_spec(stim_spec)  # raises ValueError naming the problem
    else:
        raise InputTypeError(f"stimulus must be a Stimulus or a stimulus spec dict, got {stimulus!r}")
    for name in stim_axes:  # every value of every stimulus axis must give a valid stimulus
        for v in np.unique(grid.axes[name]):
            Stimulus.from_spec(_set_path(stim_spec, _path(name), v))
    stim_arg = stim_spec if stim_axes else (
        stimulus if isinstance(stimulus, Stimulus) else Stimulus.from_spec(stim_spec))
    # everything simulate refuses at some point of the grid, refused now, by simulate's own
    # checks, before any store is touched: the axes as orthogonal arrays (a product) or
    # columns (a table), so the grid is never materialised
    axes, trial = _axis_values(grid)
    C.simulate_call(Stimulus.from_spec(stim_spec), t_stop, dt, method, params, window=window,
                    max_spikes=max_spikes, seed=seed, trial=trial, channel_noise=channel_noise,
                    rtol=rtol, atol=atol, face="sweep", batch_memory=False, backend=backend,
                    backends=BACKENDS, **fixed, **axes)
    # dopri5's tolerances as given (simulate refused them for a fixed-step method above);
    # kept only when given, so the attributes of other sweeps stay as they were
    tolerances = {k: float(v) for k, v in (("rtol", rtol), ("atol", atol)) if v is not None}

    return {
        "hhfast_version": __version__,
        "method": method,
        "dt": dt,
        "t_stop": t_stop,
        "window": win,
        "stimulus": json.dumps(stim_spec, sort_keys=True),
        "params": json.dumps(params.as_dict(), sort_keys=True),
        "fixed": json.dumps(fixed, sort_keys=True),
        "metrics": list(metrics),
        "max_spikes": max_spikes,
        "seed": str(seed),  # a string: 64 bits survive JSON
        # the re-arm margin of points that do not set spike_rearm: a store made under another
        # default (or before the margin existed) is not resumed with different spike counts
        "spike_rearm_default": config.SPIKE_REARM_MV,
        "axes": list(grid.names),
        "grid": "table" if grid.is_table else "product",
        # the channel model when there is one: attributes of other sweeps stay as they were
        **({"channel_noise": channel_noise} if channel_noise is not None else {}),
        **tolerances,
        "_fixed": fixed,
        "_stimulus": stim_arg,
        "_n_steps": n_steps,
        # where the batches run: a run option, not part of the store's identity (backends
        # agree to rounding, docs/architecture.md §3.3), so a store may be resumed elsewhere
        "_backend": backend,
    }


def _axis_values(grid) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The grid's per-neuron axes (and its ``trial`` axis, None if none) as arrays that
    broadcast to the grid's shape without being expanded: a table's columns as they are, a
    product's axis k with shape ``(n_k, 1, ..., 1)`` (one 1 per later axis).  Stimulus axes
    are left out (each of their values is checked as a stimulus)."""
    out, trial = {}, None
    for k, (name, v) in enumerate(grid.axes.items()):
        if isinstance(v, LinearAxis):
            # a lazy {start, stop, num} axis: its values are monotone in the index and every
            # check is monotone in each value (ranges, 1/Cm, phi, the noise and method
            # bounds), so its two ends stand for the whole axis, never materialised (its
            # every value is finite and in range: checked block by block by the grid)
            v = v.take(np.array([0, v.num - 1])) if (
                v.num > config.SWEEP_AXIS_BLOCK and not grid.is_table) else np.asarray(v)
        if not grid.is_table:
            v = v.reshape((v.size,) + (1,) * (len(grid.axes) - k - 1))
        if name == "trial":
            # whole numbers as Python ints (exact to 2^64, range-checked as trial ids)
            trial = np.array([int(x) for x in v.reshape(-1)], dtype=object).reshape(v.shape) \
                if np.all(v == np.round(v)) else v
        elif not name.startswith(STIM_PREFIX):
            out[name] = v
    return out, trial


def _check_run_options(client, progress, overwrite) -> None:
    """The run options of :func:`hhfast.sweep` that the spec does not hold."""
    C.flag("progress", progress)
    C.flag("overwrite", overwrite)
    if client is not None and not callable(getattr(client, "submit", None)):
        raise InputTypeError(f"client must be a distributed.Client (or None), got {client!r}")


#: Store attributes present only when set (a store without one holds the default, None):
#: compared on resume in both directions.
OPTIONAL_ATTRS = ("channel_noise", "rtol", "atol")


def _attrs(spec) -> dict:
    return {k: v for k, v in spec.items() if not k.startswith("_")}


def _layout(grid: Grid, spec) -> dict:
    """variable -> (dims, shape, dtype, fill, attrs) for every metric and ``done``."""
    lay = {}
    for k in spec["metrics"]:
        dtype, fill, units, desc = METRICS[k]
        dims, shape = grid.dims, grid.shape
        if k == "spike_times":
            dims, shape = dims + ("spike",), shape + (spec["max_spikes"],)
        lay[k] = (dims, shape, dtype, fill, {"units": units, "long_name": desc})
    lay["done"] = (grid.dims, grid.shape, "bool", False,
                   {"long_name": "the point's results are written"})
    if grid.is_table:
        for v in lay.values():
            v[4]["coordinates"] = " ".join(grid.names)
    return lay


def _dataset(grid: Grid, spec, out: dict):
    import xarray as xr

    lay = _layout(grid, spec)
    data = {}
    for k, (dims, shape, _dtype, _fill, attrs) in lay.items():
        arr = out[k] if k != "done" else np.ones(grid.size, dtype=bool)
        attrs = {a: b for a, b in attrs.items() if a != "coordinates"}
        data[k] = xr.Variable(dims, arr.reshape(shape), attrs)
    if grid.is_table:
        coords = {k: ("point", np.asarray(v)) for k, v in grid.axes.items()}
    else:
        coords = {k: (k, np.asarray(v)) for k, v in grid.axes.items()}
    return xr.Dataset(data, coords=coords, attrs=_attrs(spec))



# -- a spec as data (TOML) ---------------------------------------------------------------------
_SPEC_KEYS = {"t_stop", "dt", "method", "window", "metrics", "max_spikes", "chunk_size",
              "batch_size", "store", "stimulus", "params", "fixed", "axes", "points", "seed",
              "channel_noise", "rtol", "atol", "backend"}


def sweep_from_spec(spec: Mapping) -> tuple[Grid, dict]:
    """A parsed TOML/JSON sweep spec -> ``(grid, keyword arguments of sweep)``.

    Keys: ``t_stop`` (required), ``dt``, ``method``, ``window = [t0, t1]``, ``metrics``,
    ``max_spikes``, ``chunk_size``, ``batch_size``, ``store``, ``seed`` (of the noise: give
    ``noise_sigma``, ``noise_tau`` in ``[fixed]`` or as axes), ``channel_noise`` (``"channel"``,
    ``"shielding"`` or ``"subunit"``; ``area``, ``rho_Na``, ``rho_K`` in ``[fixed]`` or as
    axes), ``rtol``, ``atol`` (``method = "dopri5"`` only: its tolerances, as in
    :func:`hhfast.simulate`; refused with a fixed-step method), ``backend`` (``"cpu"`` or
    ``"cuda"``); tables ``[stimulus]`` (a
    stimulus spec, required), ``[params]`` (``preset = "classic"|"modern"`` and model field
    overrides), ``[fixed]`` (other per-neuron values), and either ``[axes]`` (each axis a list
    of values or ``{start, stop, num}``, a full product) or ``[points]`` (equal-length
    columns).  Everything is checked as data; errors name the key.
    """
    if not isinstance(spec, Mapping):
        raise InputValueError(f"sweep spec must be a table, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    if unknown:
        raise InputValueError(f"sweep spec: unknown key {unknown[0]!r}; known keys are "
                         f"{sorted(_SPEC_KEYS)}")
    if "t_stop" not in spec:
        raise InputValueError("sweep spec: missing key 't_stop' (ms)")
    if "stimulus" not in spec or not isinstance(spec["stimulus"], Mapping):
        raise InputValueError("sweep spec: missing table 'stimulus' (e.g. [stimulus] type = 'step')")
    if ("axes" in spec) == ("points" in spec):
        raise InputValueError("sweep spec: give exactly one of the tables 'axes' (a product grid) "
                         "or 'points' (a table of points)")

    def num(key, value, kind=float):
        ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
              and (kind is float or isinstance(value, numbers.Integral)))
        if not ok:
            raise InputValueError(f"sweep spec: key {key!r} must be "
                             f"{'a number' if kind is float else 'an integer'}, got {value!r}")
        return kind(value)

    def numlist(key, value):
        if not isinstance(value, list) or not value:
            raise InputValueError(f"sweep spec: key {key!r} must be a non-empty list of numbers, "
                             f"got {value!r}")
        return [num(f"{key}[{i}]", v) for i, v in enumerate(value)]

    kw: dict = {"t_stop": num("t_stop", spec["t_stop"])}
    for key in ("dt", "rtol", "atol"):
        if key in spec:
            kw[key] = num(key, spec[key])
    for key in ("max_spikes", "chunk_size", "batch_size", "seed"):
        if key in spec:
            kw[key] = num(key, spec[key], int)
    for key in ("method", "store", "channel_noise", "backend"):
        if key in spec:
            if not isinstance(spec[key], str):
                raise InputValueError(f"sweep spec: key {key!r} must be a string, got {spec[key]!r}")
            kw[key] = spec[key]
    if "window" in spec:
        w = numlist("window", spec["window"])
        if len(w) != 2:
            raise InputValueError(f"sweep spec: key 'window' must be [t0, t1], got {spec['window']!r}")
        try:
            C.window_in_run(tuple(w), kw["t_stop"])
        except (ValueError, TypeError) as e:
            raise InputValueError(f"sweep spec: key 'window': {e}") from None
        kw["window"] = tuple(w)
    if "metrics" in spec:
        m = spec["metrics"]
        if not isinstance(m, list) or not all(isinstance(x, str) for x in m):
            raise InputValueError(f"sweep spec: key 'metrics' must be a list of names, got {m!r}")
        kw["metrics"] = m
    try:
        Stimulus.from_spec(dict(spec["stimulus"]))
    except (ValueError, TypeError) as e:
        raise InputValueError(f"sweep spec: key 'stimulus': {e}") from None
    kw["stimulus"] = dict(spec["stimulus"])

    for key in ("params", "fixed"):
        if not isinstance(spec.get(key, {}), Mapping):
            raise InputValueError(f"sweep spec: key {key!r} must be a table (e.g. [{key}] "
                                  f"{'gK = 30' if key == 'params' else 'bias = 2.0'}), got "
                                  f"{spec[key]!r}")
    try:
        kw["params"] = HHParams.from_spec(spec.get("params", {}))
    except InputValueError as e:
        raise InputValueError(f"sweep spec: {e}") from None
    for k, v in dict(spec.get("fixed", {})).items():
        if k not in PER_NEURON or k in FIELDS:
            raise InputValueError(f"sweep spec: key 'fixed.{k}' must be one of "
                             f"{[n for n in PER_NEURON if n not in FIELDS]} (model fields go in "
                             f"[params])")
        kw[k] = num(f"fixed.{k}", v)

    table = "points" in spec
    section = spec["points" if table else "axes"]
    if not isinstance(section, Mapping) or not section:
        raise InputValueError(f"sweep spec: table {'points' if table else 'axes'!r} must name at "
                         f"least one axis")
    axes = {}
    for name, v in section.items():
        key = f"{'points' if table else 'axes'}.{name}"
        if isinstance(v, Mapping) and not table:
            extra = sorted(set(v) - {"start", "stop", "num"})
            if extra or len(v) != 3:
                raise InputValueError(f"sweep spec: key {key!r} must be a list of values or "
                                 f"{{start, stop, num}}, got {dict(v)!r}")
            n = num(f"{key}.num", v["num"], int)
            if n < 1:
                raise InputValueError(f"sweep spec: key '{key}.num' must be >= 1, got {n}")
            # values made per index (as np.linspace, bitwise): never the whole axis at once
            axes[name] = LinearAxis(num(f"{key}.start", v["start"]),
                                    num(f"{key}.stop", v["stop"]), n)
        else:
            axes[name] = np.asarray(numlist(key, v))
        try:
            _check_axis_name(name)
        except (ValueError, TypeError) as e:
            raise InputValueError(f"sweep spec: key {key!r}: {e}") from None
    try:
        g = grid(points=axes) if table else grid(**axes)
    except (ValueError, TypeError) as e:
        raise InputValueError(f"sweep spec: table {'points' if table else 'axes'!r}: {e}") from None
    return g, kw
