"""Input checks shared by every public entry point (engine, reference, f–I, excitability,
sweeps): each names the argument and the offending value and raises before anything is
compiled or allocated.  Internal: the public API re-validates through these, users never call
them directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._values import INT64_MAX, integer, real, window_within
from .errors import InputError, InputTypeError, InputValueError
from .model import FIELDS, STATE, initial_armed, rearm_level  # noqa: F401 - re-exported
from .result import SimResult
from .stimulus import Stimulus

# re-exported: one place to import
__all__ = ["InputError", "InputTypeError", "InputValueError", "INT64_MAX", "integer", "real",
           "window_within"]

#: per-neuron keywords besides the model fields
STIM_VALUES = ("amplitude", "bias")
INITIAL_VALUES = ("V0", "n0", "m0", "h0")
NOISE_VALUES = ("noise_sigma", "noise_tau", "noise_I0")  # as hhfast.noise.NOISE_VALUES
#: per-neuron values of channel noise: patch area (µm²), channel densities (per µm²)
CHANNEL_VALUES = ("area", "rho_Na", "rho_K")
#: the spike detector's per-neuron values: threshold (mV) and re-arm margin (mV below it)
SPIKE_VALUES = ("threshold", "spike_rearm")
PER_NEURON = (FIELDS + STIM_VALUES + INITIAL_VALUES + SPIKE_VALUES + NOISE_VALUES
              + CHANNEL_VALUES)


def per_neuron_array(name: str, value) -> np.ndarray:
    """A per-neuron value as a float array, checked for type and finiteness."""
    try:
        arr = np.asarray(value)
    except Exception:  # pragma: no cover - exotic objects
        raise InputTypeError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        raise InputTypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    if np.iscomplexobj(arr):
        raise InputTypeError(f"{name} must be real, got complex values")
    arr = arr.astype(float, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        j = np.flatnonzero(bad)[0]
        where = f" at index {tuple(int(i) for i in np.unravel_index(j, arr.shape))}" \
            if arr.ndim else ""
        raise InputValueError(f"{name} must be finite, got {arr.reshape(-1)[j].item()!r}{where}")
    return arr


def range_check(name: str, arr: np.ndarray) -> None:
    def fail(cond_text, bad):
        j = np.flatnonzero(bad)[0]
        raise InputValueError(f"{name} must be {cond_text}, got {arr.reshape(-1)[j].item()!r}")

    if name in ("gNa", "gK", "gL") and (arr < 0).any():
        fail(">= 0 (a conductance, mS/cm²)", arr.reshape(-1) < 0)
    if name == "Cm" and (arr <= 0).any():
        fail("> 0 (µF/cm²)", arr.reshape(-1) <= 0)
    if name == "temperature" and (arr < -273.15).any():
        fail(">= -273.15 (°C; absolute zero)", arr.reshape(-1) < -273.15)
    if name in ("n0", "m0", "h0") and ((arr < 0) | (arr > 1)).any():
        fail("in [0, 1] (a gating variable)", ((arr < 0) | (arr > 1)).reshape(-1))
    if name == "spike_rearm" and (arr < 0).any():
        fail(">= 0 (mV below the threshold that V must fall to before the next spike counts)",
             arr.reshape(-1) < 0)


def flag(name: str, value) -> bool:
    """True or False (a NumPy bool too); anything else (1, "yes", None) is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def sequence(name: str, value) -> list:
    """A list or tuple (or array: its rows) argument as a list; a string, a mapping or a
    scalar is refused."""
    from collections.abc import Mapping

    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise InputTypeError(f"{name} must be a list, got {value!r}")
    return list(value)


def float_dtypes(name: str, value) -> list[type]:
    """A list of floating types, each checked by :func:`float_dtype`."""
    out = []
    for i, d in enumerate(sequence(name, value)):
        try:
            out.append(float_dtype(d))
        except InputError as e:
            raise type(e)(f"{name}[{i}]: {e}") from None
    return out


def store_path(name: str, value) -> str:
    """A store's path or URL: a string or an ``os.PathLike``, as a string."""
    import os

    if isinstance(value, str):
        return value
    if not isinstance(value, os.PathLike):
        raise InputTypeError(f"{name} must be a path or URL string, got {value!r}")
    return os.fspath(value)


def sim_result(name: str, value):
    """A :class:`~hhfast.result.SimResult` (of simulate, the references or the Markov chain)."""
    if not isinstance(value, SimResult):
        raise InputTypeError(f"{name} must be a SimResult (from hhfast.simulate or "
                             f"hhfast.reference), got {type(value).__name__}")
    return value


def window(window, t_start: float, t_end: float | None = None) -> tuple[float, float]:
    """The analysis window ``(t0, t1)`` in ms, checked (default ``(t_start, inf)``).

    ``t1 = inf`` means "to the end of the run".  With ``t_end`` (the run's end, ms) the window
    must also lie within the run (:func:`window_within`).
    """
    if window is None:
        return t_start, math.inf
    try:
        w0, w1 = window
    except (TypeError, ValueError):
        raise InputTypeError(f"window must be a pair (t0, t1) in ms, got {window!r}") from None
    w0, w1 = real("window[0]", w0), real("window[1]", w1, allow_inf=True)
    if not w1 > w0:
        raise InputValueError(f"window must have t1 > t0, got {window!r}")
    if t_end is not None:
        window_within(w0, w1, t_start, t_end)
    return w0, w1


def n_steps(t_start: float, t_stop: float, dt: float) -> int:
    """Number of fixed steps from ``t_start`` to ``t_stop`` (ms): ``ceil((t_stop - t_start)
    / dt)`` with a 1e-9 relative tolerance, at least 1.

    Refused (two rules): a count above ``config.MAX_STEPS`` (a unit mistake such as
    ``dt=1e-300``, and far below where an int64 step index or ``t_start + k * dt`` would lose
    exactness), and a ``dt`` below the float64 resolution of the run's times
    (``t + dt == t`` at either end: the clock would not advance).
    """
    from . import config

    ratio = (t_stop - t_start) / dt
    if not ratio <= config.MAX_STEPS:
        raise InputValueError(
            f"dt={dt!r} ms from t_start={t_start!r} to t_stop={t_stop!r} ms needs {ratio:.3g} "
            f"steps, above the limit of {config.MAX_STEPS:.3g} (config.MAX_STEPS): is dt in ms?"
        )
    n = max(1, math.ceil(ratio * (1 - 1e-9)))
    t_end = t_start + n * dt
    if t_start + dt == t_start or t_end + dt == t_end:
        raise InputValueError(
            f"dt={dt!r} ms is below the float64 resolution of times near "
            f"{max(abs(t_start), abs(t_end)):.3g} ms (t + dt == t): time would not advance"
        )
    return n


#: (largest finite, smallest normal, name) of each floating type the kernels run in
_LIMITS = {
    t: (float(np.finfo(t).max), float(np.finfo(t).tiny), np.dtype(t).name)
    for t in (np.float64, np.float32)
}


def representable(name: str, arr, dtype, what: str | None = None) -> None:
    """Refuse values that ``dtype`` cannot hold: beyond its largest finite value (they would
    become inf) or, for float32, non-zero below its smallest normal number (converting the
    float64 input would underflow it to a subnormal or 0, silently losing its digits; a
    float64 subnormal is the user's own value and stays).  ``what`` describes a derived
    quantity (e.g. ``"1/Cm"``) computed from argument ``name``.
    """
    big, tiny, kind = _LIMITS[np.dtype(dtype).type]
    if kind == "float64":
        tiny = 0.0
    arr = np.asarray(arr, dtype=float)
    if arr.size == 1:  # the common case, one value for every neuron: no array temporaries
        v = abs(float(arr.reshape(-1)[0]))
        if v <= big and not 0.0 < v < tiny:
            return
    a = np.abs(arr).reshape(-1)
    with np.errstate(invalid="ignore"):
        over = ~(a <= big)  # inf and NaN count as over
        under = (a > 0) & (a < tiny)
    label = name if what is None else f"{what} (from {name})"
    if over.any():
        j = int(np.flatnonzero(over)[0])
        raise InputValueError(
            f"{label} = {a[j]:.3g} in magnitude is not representable in {kind} (largest "
            f"finite value {big:.3g})" + ("; use dtype=numpy.float64" if kind == "float32" else "")
        )
    if under.any():
        j = int(np.flatnonzero(under)[0])
        raise InputValueError(
            f"{label} = {a[j]:.3g} in magnitude underflows {kind} (smallest normal "
            f"{tiny:.3g}): give 0 or a value of sensible size"
        )


def float_dtype(dtype) -> type:
    """``dtype`` argument -> np.float64 or np.float32 (anything else is refused)."""
    refused = InputTypeError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    if dtype is None:  # np.dtype(None) would be float64
        raise refused
    try:
        dt_ = np.dtype(dtype)
    except TypeError:
        raise refused from None
    if dt_ not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise InputValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    return dt_.type


def parse_record(record, state: tuple[str, ...] = STATE) -> tuple[str, ...]:
    """Recorded variable names, each one of ``state``, none twice."""
    if record is None:
        return ()
    if isinstance(record, str):
        names = tuple(s.strip() for s in record.split(",") if s.strip())
    elif isinstance(record, Sequence):
        names = tuple(record)
    else:
        raise InputTypeError(f"record must be a string like 'V,n' or a list of names, got {record!r}")
    for s in names:
        if s not in state:
            raise InputValueError(f"record: unknown state variable {s!r}; choose from {state}")
    if len(set(names)) != len(names):
        raise InputValueError(f"record names a variable twice: {record!r}")
    return names


def stimuli(stimulus) -> tuple[np.ndarray, tuple[int, ...]]:
    """Stimulus (or array/sequence of them, one per neuron) -> object array + its shape.

    Tables are checked when a Stimulus is made; their finiteness is checked again here, since
    a table's arrays can be changed in place afterwards.
    """
    if isinstance(stimulus, Stimulus):
        arr = np.array([stimulus], dtype=object).reshape(())
    elif isinstance(stimulus, (Sequence, np.ndarray)) and not isinstance(stimulus, str):
        flat = stimulus.reshape(-1) if isinstance(stimulus, np.ndarray) else stimulus
        arr = np.empty(len(flat), dtype=object)
        for i, s in enumerate(flat):
            if not isinstance(s, Stimulus):
                raise InputTypeError(f"stimulus[{i}] must be a Stimulus, got {s!r}")
            arr[i] = s
        if isinstance(stimulus, np.ndarray):
            arr = arr.reshape(stimulus.shape)
    else:
        raise InputTypeError(
            "stimulus must be a Stimulus (hh.step(), hh.pulses(...), ...) or a sequence of them, "
            f"got {stimulus!r}"
        )
    for s in arr.reshape(-1):
        if not (np.all(np.isfinite(s.t)) and np.all(np.isfinite(s.c0))
                and np.all(np.isfinite(s.c1))):
            raise InputValueError(f"stimulus has non-finite breakpoints or values: {s!r}")
    return arr, arr.shape


def per_neuron_values(params, per_neuron: dict, threshold=None,
                      optional: tuple[str, ...] = INITIAL_VALUES,
                      spike_rearm=None) -> dict[str, np.ndarray]:
    """The per-neuron arrays of a call (unbroadcast, each checked by :func:`per_neuron_array`):
    every model field (from ``per_neuron`` or ``params``), ``amplitude`` (default 1), ``bias``
    (default 0), the names of ``optional`` that were given, and ``threshold`` and
    ``spike_rearm`` if given as arguments or in ``per_neuron``.  Range checks are the
    caller's (:func:`range_check`)."""
    values: dict[str, np.ndarray] = {}
    for name in FIELDS:
        values[name] = per_neuron_array(name, per_neuron.get(name, getattr(params, name)))
    values["amplitude"] = per_neuron_array("amplitude", per_neuron.get("amplitude", 1.0))
    values["bias"] = per_neuron_array("bias", per_neuron.get("bias", 0.0))
    for name in optional:
        if name in per_neuron:
            values[name] = per_neuron_array(name, per_neuron[name])
    if threshold is None:
        threshold = per_neuron.get("threshold")
    if threshold is not None:
        values["threshold"] = per_neuron_array("threshold", threshold)
    if spike_rearm is None:
        spike_rearm = per_neuron.get("spike_rearm")
    if spike_rearm is not None:
        values["spike_rearm"] = per_neuron_array("spike_rearm", spike_rearm)
    return values


def spike_threshold(values: dict) -> np.ndarray:
    """The spike threshold (mV) of checked per-neuron ``values``: ``threshold`` if given, else
    ``V_rest + config.SPIKE_THRESHOLD_ABOVE_REST`` (unbroadcast)."""
    from . import config

    if "threshold" in values:
        return values["threshold"]
    return values["V_rest"] + config.SPIKE_THRESHOLD_ABOVE_REST


def armed_values(value) -> np.ndarray | None:
    """``spike_armed`` (the spike detector's state at ``t_start``): None, a bool or an array
    of bools (per neuron, broadcast with the per-neuron values); anything else is refused."""
    if value is None:
        return None
    arr = None
    if isinstance(value, (bool, np.bool_, np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:  # a ragged list
            arr = None
    if arr is None or arr.dtype != bool:
        raise InputTypeError(
            f"spike_armed must be True, False or an array of bools (the spike detector's state "
            f"at t_start, e.g. from SimResult.continuation()), got {value!r}")
    return arr


def armed_consistent(armed, V0, threshold, rearm, dtype=np.float64) -> None:
    """Refuse a ``spike_armed`` that no run can reach (docs/architecture.md §3): at a step's end
    an armed detector is below the threshold (at or above it the spike counts and disarms it)
    and a disarmed one is at or above the re-arm level (below it, it re-arms).  Armed at or
    above the threshold would count a spike at ``t_start`` that no crossing made; disarmed below
    the re-arm level would re-arm at the kernels' first step but not in the scipy reference.
    Compared in the run's ``dtype``, as the kernels compare; arrays broadcast together."""
    a, v, thr, re = np.broadcast_arrays(armed, *(np.asarray(x, dtype=float).astype(dtype)
                                                 for x in (V0, threshold, rearm)))
    for bad, what in ((a & ~(v < thr), "True where V0 is not below the threshold"),
                      (~a & (v < re), "False where V0 is below the re-arm level")):
        if bad.any():
            j = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
            where = f" at index {tuple(int(i) for i in j)}" if bad.ndim else ""
            raise InputValueError(
                f"spike_armed: {what}{where} (V0={float(v[j])!r} mV, threshold="
                f"{float(thr[j])!r} mV, re-arm level {float(re[j])!r} mV): no run reaches that "
                f"state (only between the two levels does the detector's state depend on the "
                f"past); pass the value continuation() gives, or None")


def batch_shape(stim_shape: tuple[int, ...], values: dict[str, np.ndarray],
                trial=None, spike_armed=None) -> tuple[tuple[int, ...], int]:
    """The batch shape that the stimuli, the per-neuron arrays, the ``trial`` ids and the
    detector states ``spike_armed`` broadcast to (NumPy rules; a single neuron is a batch of
    shape ``(1,)``) and its size.  Shapes that do not broadcast, or an empty batch, are
    refused naming the shapes."""
    trial_shape = () if trial is None else np.shape(trial)
    armed_shape = () if spike_armed is None else np.shape(spike_armed)
    try:
        shape = np.broadcast_shapes(stim_shape, trial_shape, armed_shape,
                                    *(a.shape for a in values.values()))
    except ValueError:
        shapes = {k: a.shape for k, a in values.items() if a.shape != ()}
        if trial_shape:
            shapes["trial"] = trial_shape
        if armed_shape:
            shapes["spike_armed"] = armed_shape
        if stim_shape:
            shapes["stimulus"] = stim_shape
        raise InputValueError(f"per-neuron values do not broadcast together: shapes {shapes}") from None
    shape = shape or (1,)  # a single neuron is a batch of one, so res.spike_count[0] works
    N = int(np.prod(shape, dtype=np.int64))
    if N == 0:
        raise InputValueError(f"the batch is empty (broadcast shape {shape})")
    return shape, N


def window_in_run(win, t_end: float) -> list[float]:
    """An analysis window ``win`` of a run from 0 to ``t_end`` ms, checked to lie within it
    (:func:`window_within`), as ``[t0, t1]`` with ``t1 = inf`` replaced by ``t_end``."""
    w0, w1 = window(win, 0.0, t_end)
    return [w0, min(w1, t_end)]


def channel_values(given: dict, channel_noise) -> dict[str, np.ndarray]:
    """``area`` (µm²), ``rho_Na`` and ``rho_K`` (channels per µm²) of a call, each from
    ``given`` (None = not given) or ``config.CHANNEL_DEFAULTS``, checked finite and > 0
    (unbroadcast).  Without a channel model (``channel_noise`` None) they are refused when
    given, and ``{}`` is returned."""
    from . import config

    named = [k for k in CHANNEL_VALUES if given.get(k) is not None]
    if channel_noise is None:
        if named:
            raise InputValueError(f"{', '.join(named)} only apply with channel noise: pass "
                                  f"channel_noise= one of 'channel', 'shielding', 'subunit'")
        return {}
    values = {}
    for name in CHANNEL_VALUES:
        v = given.get(name)
        arr = per_neuron_array(name, config.CHANNEL_DEFAULTS[name] if v is None else v)
        bad = ~(arr > 0)
        if bad.any():
            unit = "µm²" if name == "area" else "channels per µm²"
            raise InputValueError(f"{name} must be > 0 ({unit}), got "
                                  f"{arr.reshape(-1)[np.flatnonzero(bad)[0]].item()!r}")
        values[name] = arr
    return values


def channel_counts(values: dict[str, np.ndarray], rounded: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(N_Na, N_K)`` from the ``area``, ``rho_Na``, ``rho_K`` arrays: ``rho * area`` with
    NumPy broadcasting of the arrays as given (so unbroadcast per-neuron values are checked
    without expanding them to the batch), rounded to whole channels when ``rounded`` (the
    Markov chain); at least 1 channel of each kind and fewer than 2^53 are required, naming
    the offending values."""
    out = []
    for name in ("Na", "K"):
        rho, area = np.broadcast_arrays(values[f"rho_{name}"], values["area"])
        nn = rho * area
        if rounded:
            nn = np.rint(nn)
        bad = ~((nn >= 1) & (nn < 2.0**53))
        if bad.any():
            j = np.unravel_index(int(np.flatnonzero(bad)[0]), nn.shape)
            raise InputValueError(
                f"rho_{name} * area = {rho[j].item()!r} * {area[j].item()!r} gives "
                f"{nn[j]:.6g} {name} channels; need at least 1 and fewer than 2^53")
        out.append(nn)
    return out[0], out[1]


def method_and_channel(method, channel_noise) -> tuple[str, str | None]:
    """The integration method and channel-noise model of a call, checked: ``channel_noise``
    None or a model of ``kernels.CHANNELS``; ``method`` a name of ``kernels.METHODS``,
    None meaning ``"rk4"``, or ``"euler"`` (Euler–Maruyama, the one method of channel noise)
    when ``channel_noise`` is given."""
    from .kernels import CHANNELS, METHODS  # lazy: the kernels import Numba

    if channel_noise is not None and (not isinstance(channel_noise, str)
                                      or channel_noise not in CHANNELS):
        raise InputValueError(f"channel_noise must be None or one of {sorted(CHANNELS)}, "
                              f"got {channel_noise!r}")
    if method is None:
        method = "rk4" if channel_noise is None else "euler"
    if channel_noise is not None and method != "euler":
        raise InputValueError(
            f"channel_noise={channel_noise!r} runs with method='euler' (Euler–Maruyama on V and "
            f"the occupancies), got method={method!r}")
    if not isinstance(method, str) or method not in METHODS:
        raise InputValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return method, channel_noise


# -- one call of simulate, checked (every face runs this before anything else) -----------------
def simulate_call(stimulus, t_stop, dt=0.01, method=None, params=None, *, t_start=0.0,
                  threshold=None, record=None, record_every=1, max_spikes=None, window=None,
                  num_threads=None, dtype=np.float64, rtol=None, atol=None, max_steps=None,
                  seed=0, trial=None, channel_noise=None, neurons=None, spike_rearm=None,
                  spike_armed=None, face: str = "simulate", batch_memory: bool = True,
                  backend=None, backends=None, features=None, feature_window=None,
                  **per_neuron):
    """Check the arguments of one :func:`hhfast.simulate` call, as simulate itself does,
    without allocating or compiling anything; returns them checked (a namespace).

    This is THE check behind every face (docs/architecture.md §4): ``simulate`` runs it
    first, and ``fi_curve``, ``rheobase`` and ``sweep`` run it on the values they will pass
    on (a sweep's product axes as orthogonal arrays, so nothing is materialised) before any
    store is created or any run started, so every face refuses what simulate refuses, with
    the same :class:`~hhfast.errors.InputError`.  ``face`` names the caller in the message
    for unknown keywords.  With ``batch_memory`` the memory of the batch's outputs and
    recordings is checked too (a sweep, which runs its grid in chunks, turns it off).
    ``backends`` is the engine's registry of backends (name -> backend, passed in since the
    engine sits above this layer): ``backend`` is then checked against it
    (:func:`backend_choice`) and returned as the backend object; None leaves it unchecked.
    """
    from types import SimpleNamespace

    from . import config
    from .kernels import METHODS
    from .model import HHParams, check_params
    from .noise import check_seed, check_trial, first_step, is_noisy

    if max_spikes is None:
        max_spikes = config.MAX_SPIKES
    # ---- scalars and names (cheap, first) ----
    method, channel_noise = method_and_channel(method, channel_noise)
    if backends is not None:
        backend = backend_choice(backend, backends)
    spec = METHODS[method]
    adaptive = spec.kind == "adaptive"
    if backends is not None:
        from .kernels import CHANNELS

        why = backend.refuses(spec, None if channel_noise is None else CHANNELS[channel_noise],
                              features=bool(features))
        if why:
            raise InputValueError(why)
    rtol, atol, max_steps = adaptive_options(method, adaptive, rtol, atol, max_steps, dtype)
    dt = real("dt", dt, positive=True)
    t_start = real("t_start", t_start)
    t_stop = real("t_stop", t_stop)
    if adaptive and not t_stop > t_start:
        raise InputValueError(f"t_stop ({t_stop!r} ms) must be after t_start ({t_start!r} ms)")
    if not adaptive and t_stop - t_start < dt * (1 - 1e-9):
        raise InputValueError(
            f"t_stop ({t_stop!r} ms) must be at least one step (dt={dt!r} ms) after "
            f"t_start ({t_start!r} ms)"
        )
    steps = n_steps(t_start, t_stop, dt)
    t_end = t_start + steps * dt
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise InputTypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    unknown = sorted(set(per_neuron) - set(PER_NEURON) - {"threshold"}, key=str)
    if unknown:
        raise InputTypeError(
            f"{face}() got unexpected keyword argument(s) {unknown}; per-neuron values are "
            f"{list(PER_NEURON)}"
        )
    max_spikes = integer("max_spikes", max_spikes, 0)
    # any positive integer: beyond the run it records the initial state only (clamped below
    # to steps + 1, so no int64 kernel argument ever sees a larger one)
    record_every = integer("record_every", record_every, 1, hi=math.inf)
    state_names = CHANNEL_STATE if channel_noise else STATE  # the kernel's state rows
    rec_names = parse_record(record, state_names)
    if num_threads is not None:
        import numba

        num_threads = integer("num_threads", num_threads, 1)
        if num_threads > numba.config.NUMBA_NUM_THREADS:
            raise InputValueError(
                f"num_threads must be <= {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), "
                f"got {num_threads}"
            )
    dtype = float_dtype(dtype)
    stims, stim_shape = stimuli(stimulus)

    # ---- per-neuron values: check (unbroadcast) ----
    values = per_neuron_values(params, per_neuron, threshold, INITIAL_VALUES + NOISE_VALUES,
                               spike_rearm)
    value_ranges(values, dtype)
    values.update(channel_values(per_neuron, channel_noise))
    noisy = is_noisy(values) or channel_noise is not None
    seed = check_seed(seed)
    trial = check_trial(trial)
    armed = armed_values(spike_armed)
    method_values(spec, values, noisy)
    shape, N = batch_shape(stim_shape, values, trial, armed)
    value_consistency(values, armed, channel_noise is not None, dtype)

    # ---- steps and window ----
    if adaptive:  # ends exactly at t_stop; samples every record_every * dt up to it
        t_end = t_stop
        steps = record_every * int((t_stop - t_start) / (dt * record_every) * (1 + 1e-9))
    record_every = min(record_every, steps + 1)  # beyond the run: the initial state only
    k_first = first_step(t_start, dt, steps) if noisy else 0
    w0, w1 = window_(window, t_start, t_end)
    feature_names, feature_windows, several = _feature_call(features, feature_window,
                                                            adaptive, method, t_start, t_end)

    # ---- recording budget and outputs (of one batch) ----
    rec_idx, n_samples = np.zeros(0, dtype=np.int64), 0
    if batch_memory:
        from .kernels import layout as K

        if config.RECORD_MEMORY_BUDGET is None:
            raise InputValueError(config.RECORD_BUDGET_ERROR)
        if neurons is None:
            rec_idx = np.arange(N) if rec_names else rec_idx
        else:
            rec_idx = np.asarray(neurons)
            if rec_idx.size == 0:  # neurons=[]: record nobody
                rec_idx = rec_idx.astype(np.int64)
            if rec_idx.dtype == bool or not np.issubdtype(rec_idx.dtype, np.integer):
                raise InputTypeError(f"neurons must be integer (flat) indices, got {neurons!r}")
            rec_idx = rec_idx.reshape(-1).astype(np.int64)
            if rec_idx.size and (rec_idx.min() < -N or rec_idx.max() >= N):
                raise InputValueError(f"neurons: index out of range for {N} neurons: {neurons!r}")
            rec_idx = np.unique(rec_idx % N)
            if not rec_names:
                rec_names = ("V",)
        n_samples = steps // record_every + 1 if rec_names else 0
        rec_bytes = len(rec_names) * n_samples * rec_idx.size * 8
        if rec_bytes > config.RECORD_MEMORY_BUDGET:
            raise InputValueError(
                f"recording {','.join(rec_names)} for {rec_idx.size} neurons x {n_samples} "
                f"samples needs {rec_bytes / 2**30:.2f} GiB, above the budget of "
                f"{config.RECORD_MEMORY_BUDGET / 2**30:.2f} GiB (HHFAST_RECORD_BUDGET, bytes); "
                f"record fewer variables, a subset of neurons (neurons=...), or decimate "
                f"(record_every=...)"
            )
        out_bytes = N * (8 * max_spikes + 8 * (K.NI + K.NF + 4))
        if out_bytes > 0.8 * config.total_memory_bytes():
            raise InputValueError(
                f"{N} neurons with max_spikes={max_spikes} need {out_bytes / 2**30:.1f} GiB of "
                f"outputs; lower max_spikes or run the batch with hhfast.sweep (chunked to disk)"
            )
    return SimpleNamespace(
        rec_idx=rec_idx, n_samples=n_samples,
        method=method, channel_noise=channel_noise, spec=spec, adaptive=adaptive, rtol=rtol,
        atol=atol, max_steps=max_steps, dt=dt, t_start=t_start, t_stop=t_stop, n_steps=steps,
        t_end=t_end, params=params, max_spikes=max_spikes, record_every=record_every,
        state_names=state_names, rec_names=rec_names, num_threads=num_threads, dtype=dtype,
        stims=stims, stim_shape=stim_shape, values=values, noisy=noisy, seed=seed, trial=trial,
        shape=shape, N=N, k_first=k_first, w0=w0, w1=w1, armed=armed, backend=backend,
        features=feature_names, feature_windows=feature_windows, feature_several=several)


def _feature_call(features, feature_window, adaptive: bool, method: str, t_start: float,
                  t_end: float):
    """The checked ``features`` (names), their windows ``[NW, 2]`` (ms) and whether several
    were given (docs/architecture.md §3.2)."""
    from .features import check_names, check_windows

    names = check_names(features)
    if not names:
        if feature_window is not None:
            raise InputValueError(
                f"feature_window={feature_window!r} is given but no features: pass "
                f"features=[...] (hhfast.FEATURES lists them)")
        return (), None, False
    if adaptive:
        raise InputValueError(
            f"features are computed by the fixed-step kernels; method={method!r} is "
            f"adaptive: choose a fixed-step method (e.g. 'rk4')")
    win, several = check_windows(feature_window, t_start, t_end)
    return names, win, several


window_ = window  # (simulate_call's argument of that name hides the function)

#: the recordable variables of a channel-noise run (rows of the kernel's state)
CHANNEL_STATE = ("V", "K_open", "Na_open")


def derived(values: dict, dtype) -> None:
    """Refuse per-neuron values whose derived kernel parameters (1/Cm, the temperature factor
    3^((T - 6.3)/10)) overflow or underflow ``dtype``; checked on the unbroadcast arrays."""
    with np.errstate(over="ignore", divide="ignore", under="ignore"):
        representable("Cm", 1.0 / values["Cm"], dtype, what="1/Cm (µF/cm²)^-1")
        phi = 3.0 ** ((values["temperature"] - 6.3) / 10.0)
    # no underflow to exactly 0 either: temperature >= -273.15 keeps the factor above 4e-14
    representable("temperature", phi, dtype, what="the rate factor 3^((T - 6.3)/10)")


def adaptive_options(method, adaptive, rtol, atol, max_steps, dtype):
    """Check the adaptive-only arguments (before anything is compiled); returns
    ``(rtol, atol, max_steps)`` with their defaults filled in (all None for fixed-step).
    ``max_steps`` is bounded by the int64 step counter of the kernel."""
    from . import config

    if not adaptive:
        given = [k for k, v in (("rtol", rtol), ("atol", atol), ("max_steps", max_steps))
                 if v is not None]
        if given:
            raise InputValueError(
                f"{', '.join(given)} only apply to adaptive methods (method='dopri5'); "
                f"method={method!r} is fixed-step: choose its accuracy with dt"
            )
        return None, None, None
    if float_dtype(dtype) != np.float64:
        # the controller's tolerances would meet float32's eps (6e-8) and the per-neuron
        # times would lose the exact landing on stimulus edges: float64 only
        raise InputValueError(
            f"dtype must be float64 for method={method!r} (an adaptive step controller needs "
            f"tolerances far below float32's 6e-8 resolution), got {np.dtype(dtype).name}"
        )
    rtol = real("rtol", config.ADAPTIVE_RTOL if rtol is None else rtol, positive=True)
    atol = real("atol", rtol if atol is None else atol, positive=True)
    for name, v in (("rtol", rtol), ("atol", atol)):
        if v < config.ADAPTIVE_RTOL_MIN:
            raise InputValueError(
                f"{name} must be >= {config.ADAPTIVE_RTOL_MIN:g} (below it the error estimate "
                f"is float64 round-off and the step size collapses), got {v!r}"
            )
    max_steps = integer("max_steps", config.ADAPTIVE_MAX_STEPS if max_steps is None
                        else max_steps, 1)
    return rtol, atol, max_steps


# -- the per-neuron values of a call, checked (simulate_call, and RunPlan.run on the values it
# is given: one set of rules) -----------------------------------------------------------------
#: the values the spike detector's initial state is checked against
ARMED_VALUES = ("V0", "V_rest", "threshold", "spike_rearm")


def value_ranges(values: dict, dtype, names=None) -> None:
    """Range checks of per-neuron ``values`` (arrays from :func:`per_neuron_array`): each of
    ``names`` (default every value) in its range and representable in ``dtype``; the derived
    1/Cm and rate factor when ``Cm`` or ``temperature`` is among them; the noise values' rules
    when one of those is.  Cross-checks read the other values from ``values``."""
    from .noise import check_values as check_noise_values

    names = tuple(values) if names is None else tuple(names)
    for name in names:
        range_check(name, values[name])
        representable(name, values[name], dtype)
    if "Cm" in names or "temperature" in names:
        derived(values, dtype)
    if set(names) & set(NOISE_VALUES):
        check_noise_values(values)


def method_values(spec, values: dict, noisy: bool) -> None:
    """The method's own parameter checks (``spec.check``, e.g. expeuler: gL > 0) and, for a
    noisy run (current or channel noise), that the method takes noise."""
    from .kernels import METHODS

    spec.check(values)
    if noisy and not spec.noise:  # (channel noise runs with "euler", which takes noise)
        raise InputValueError(
            f"method {spec.name!r} does not take noise (noise_sigma, noise_I0); the fixed-step "
            f"methods do: {[m for m, s in METHODS.items() if s.noise]}")


def value_consistency(values: dict, armed, channel: bool, dtype, names=None) -> None:
    """Checks across values, on the arrays as given (broadcast together here): a
    ``spike_armed`` some run can reach (:func:`armed_consistent`, in the run's ``dtype``) and,
    with channel noise, at least one channel of each kind (:func:`channel_counts`).  With
    ``names`` only the checks that involve one of them."""
    names = None if names is None else set(names)
    if armed is not None and (names is None or names & {"spike_armed", *ARMED_VALUES}):
        thr = spike_threshold(values)
        armed_consistent(armed, values.get("V0", values["V_rest"]), thr,
                         rearm_level(thr, values.get("spike_rearm")), dtype)
    if channel and (names is None or names & set(CHANNEL_VALUES)):
        channel_counts(values, rounded=False)


def backend_choice(value, backends):
    """``simulate(backend=...)``: a name of ``backends`` (name -> backend object with
    ``available() -> (bool, reason)``) that this machine can run; returns the backend."""
    if not isinstance(value, str):
        raise InputTypeError(f"backend must be a name, one of {sorted(backends)}, got {value!r}")
    if value not in backends:
        raise InputValueError(f"backend must be one of {sorted(backends)}, got {value!r}")
    ok, why = backends[value].available()
    if not ok:
        raise InputValueError(f"backend={value!r} is not available on this machine: {why}")
    return backends[value]
