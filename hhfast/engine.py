"""simulate(): check inputs, broadcast per-neuron values, size memory, chunk, run a kernel.

Everything is validated before any kernel is compiled or any large array allocated, so bad
input costs nothing and names the argument at fault.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _checks as C
from . import config
from ._checks import INITIAL_VALUES, PER_NEURON
from .kernels import METHODS, MethodSpec
from .kernels import common as K
from .model import FIELDS, STATE, HHParams, check_params, steady_state
from .noise import NOISE_VALUES, check_seed, check_trial, first_step, is_noisy
from .noise import check_values as check_noise_values
from .noise import coefficients as noise_coefficients
from .noise import initial_current as noise_initial_current
from .random import key_from_seed
from .result import SimResult, SpikeTimes
from .stimulus import as_tables


# -- the call -----------------------------------------------------------------------------------
def simulate(
    stimulus,
    t_stop: float,
    dt: float = 0.01,
    method: str = "rk4",
    params: HHParams | None = None,
    *,
    t_start: float = 0.0,
    threshold=None,
    record=None,
    record_every: int = 1,
    neurons=None,
    max_spikes: int = config.MAX_SPIKES,
    window: tuple[float, float] | None = None,
    num_threads: int | None = None,
    dtype=np.float64,
    seed: int = 0,
    trial=None,
    **per_neuron,
) -> SimResult:
    """Integrate the HH model for a batch of neurons with a fixed-step method.

    Parameters
    ----------
    stimulus : Stimulus or sequence of Stimulus
        Current shape (see :mod:`hhfast.stimulus`); neuron ``i`` receives
        ``bias[i] + amplitude[i] * shape(t)`` µA/cm².  A sequence gives one shape per neuron
        (it takes part in broadcasting as a 1-D array).
    t_stop : float
        End time (ms).  The run takes ``ceil((t_stop - t_start) / dt)`` steps (with a 1e-9
        relative tolerance), so it ends at or just after ``t_stop``.
    dt : float
        Time step (ms).
    method : str
        Integration method, a name of :func:`hhfast.methods` (``"rk4"``, ``"euler"``,
        ``"heun"``, ``"expeuler"``, ``"rush_larsen"``, ``"rl2"``, ...; README, "Methods").
    params : HHParams, optional
        Model parameters (default :meth:`HHParams.classic`); any field can be overridden per
        neuron as a keyword argument.
    t_start : float
        Start time (ms), e.g. from :meth:`SimResult.continuation`.
    threshold : float or array, optional
        Spike threshold (mV); default ``V_rest + config.SPIKE_THRESHOLD_ABOVE_REST``
        (50 mV above rest).  A spike is an upward crossing; the detector re-arms when V falls
        back below it.
    record : str or list of str, optional
        State variables to record, e.g. ``"V"`` or ``"V,n,m,h"``.  Off by default: without
        recording, memory is O(N) whatever ``t_stop``.
    record_every : int
        Record every this many steps (the initial state is sample 0).
    neurons : array of int, optional
        Flat indices of the neurons to record (default all).
    max_spikes : int
        Spike times stored per neuron (all spikes are counted).
    window : (float, float), optional
        Analysis window ``[t0, t1)`` (ms) for the exact O(1)-memory rate and ISI statistics
        (default the whole run).
    num_threads : int, optional
        Numba threads for this call (default: Numba's current setting).
    dtype : {numpy.float64, numpy.float32}
        Floating type of the state and of the arithmetic.  ``float32`` runs about twice as
        fast (twice the SIMD lanes) and suits sweeps where rates matter more than the last
        digits of a spike time; spike times are still computed and returned in float64, but
        their error is that of single precision (see README, "Performance").
    seed : int
        Seed of the noise, in ``[0, 2^64)`` (default 0: the same call gives the same numbers).
    trial : int or array of int, optional
        Noise identity of each neuron, in ``[0, 2^64)``, broadcast with the per-neuron values
        (default: the neuron's flat index in the batch).  A neuron with the same ``seed``,
        ``trial``, ``dt`` and values gets the same noise in any batch, chunk or thread count
        (README, "Noise").
    **per_neuron : float or array
        Any of ``gNa, gK, gL, ENa, EK, EL, Cm, V_rest, temperature`` (overriding ``params``),
        ``amplitude`` (default 1), ``bias`` (µA/cm², default 0), initial values ``V0, n0, m0,
        h0`` (default: the resting state — V = V_rest and each gate at its steady state at
        V_rest, whatever ``V0`` is, as in HH's initial-depolarisation experiments), and the
        noise ``noise_sigma`` (white: µA/cm²·ms^½; OU: µA/cm²; default 0), ``noise_tau``
        (ms, 0 = white), ``noise_I0`` (µA/cm², the OU current at ``t_start``; see
        :mod:`hhfast.noise`).  Arrays
        broadcast together by NumPy rules; the broadcast shape is the batch shape of the result.

    Returns
    -------
    SimResult
    """
    # ---- scalars and names (cheap, first) ----
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    dt = C.real("dt", dt, positive=True)
    t_start = C.real("t_start", t_start)
    t_stop = C.real("t_stop", t_stop)
    if t_stop - t_start < dt * (1 - 1e-9):
        raise ValueError(
            f"t_stop ({t_stop!r} ms) must be at least one step (dt={dt!r} ms) after "
            f"t_start ({t_start!r} ms)"
        )
    if params is None:
        params = HHParams.classic()
    if not isinstance(params, HHParams):
        raise TypeError(f"params must be an HHParams, got {params!r}")
    check_params(params)
    unknown = sorted(set(per_neuron) - set(PER_NEURON) - {"threshold"})
    if unknown:
        raise TypeError(
            f"simulate() got unexpected keyword argument(s) {unknown}; per-neuron values are "
            f"{list(PER_NEURON)}"
        )
    max_spikes = C.integer("max_spikes", max_spikes, 0)
    record_every = C.integer("record_every", record_every, 1)
    rec_names = C.parse_record(record)
    if num_threads is not None:
        num_threads = C.integer("num_threads", num_threads, 1)
        if num_threads > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(
                f"num_threads must be <= {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS), "
                f"got {num_threads}"
            )
    dtype = C.float_dtype(dtype)
    stims, stim_shape = C.stimuli(stimulus)
    for s in stims.reshape(-1):
        if not (np.all(np.isfinite(s.t)) and np.all(np.isfinite(s.c0)) and np.all(np.isfinite(s.c1))):
            raise ValueError(f"stimulus has non-finite breakpoints or values: {s!r}")

    # ---- per-neuron values: check and broadcast (views only) ----
    values: dict[str, np.ndarray] = {}
    for name in FIELDS:
        values[name] = C.per_neuron_array(name, per_neuron.get(name, getattr(params, name)))
    values["amplitude"] = C.per_neuron_array("amplitude", per_neuron.get("amplitude", 1.0))
    values["bias"] = C.per_neuron_array("bias", per_neuron.get("bias", 0.0))
    for name in INITIAL_VALUES + NOISE_VALUES:
        if name in per_neuron:
            values[name] = C.per_neuron_array(name, per_neuron[name])
    if threshold is not None:
        values["threshold"] = C.per_neuron_array("threshold", threshold)
    elif "threshold" in per_neuron:
        values["threshold"] = C.per_neuron_array("threshold", per_neuron["threshold"])
    for name, arr in values.items():
        C.range_check(name, arr)
    check_noise_values(values)
    noisy = is_noisy(values)
    seed = check_seed(seed)
    trial = check_trial(trial)
    spec = METHODS[method]
    spec.check(values)  # the method's own parameter checks (e.g. expeuler: gL > 0)
    if spec.kind not in _LAUNCH:
        raise ValueError(f"method {method!r} is of kind {spec.kind!r}, which simulate() "
                         f"cannot run yet")
    if noisy and spec.run_noisy is None:
        raise ValueError(f"method {method!r} does not take noise (noise_sigma, noise_I0)")
    extra_shapes = () if trial is None else (trial.shape,)
    try:
        shape = np.broadcast_shapes(stim_shape, *(a.shape for a in values.values()),
                                    *extra_shapes)
    except ValueError:
        shapes = {k: a.shape for k, a in values.items() if a.shape != ()}
        if trial is not None and trial.shape != ():
            shapes["trial"] = trial.shape
        if stim_shape:
            shapes["stimulus"] = stim_shape
        raise ValueError(f"per-neuron values do not broadcast together: shapes {shapes}") from None
    shape = shape or (1,)  # a single neuron is a batch of one, so res.spike_count[0] works
    N = int(np.prod(shape, dtype=np.int64))
    if N == 0:
        raise ValueError(f"the batch is empty (broadcast shape {shape})")

    # ---- steps, window, recording budget ----
    n_steps = max(1, math.ceil((t_stop - t_start) / dt * (1 - 1e-9)))
    t_end = t_start + n_steps * dt
    k_first = first_step(t_start, dt, n_steps) if noisy else 0
    w0, w1 = C.window(window, t_start)
    if neurons is None:
        rec_idx = np.arange(N) if rec_names else np.zeros(0, dtype=np.int64)
    else:
        rec_idx = np.asarray(neurons)
        if rec_idx.dtype == bool or not np.issubdtype(rec_idx.dtype, np.integer):
            raise TypeError(f"neurons must be integer (flat) indices, got {neurons!r}")
        rec_idx = rec_idx.reshape(-1).astype(np.int64)
        if rec_idx.size and (rec_idx.min() < -N or rec_idx.max() >= N):
            raise ValueError(f"neurons: index out of range for {N} neurons: {neurons!r}")
        rec_idx = np.unique(rec_idx % N)
        if not rec_names:
            rec_names = ("V",)
    n_samples = n_steps // record_every + 1 if rec_names else 0
    rec_bytes = len(rec_names) * n_samples * rec_idx.size * 8
    if rec_bytes > config.RECORD_MEMORY_BUDGET:
        raise ValueError(
            f"recording {','.join(rec_names)} for {rec_idx.size} neurons x {n_samples} samples "
            f"needs {rec_bytes / 2**30:.2f} GiB, above the budget of "
            f"{config.RECORD_MEMORY_BUDGET / 2**30:.2f} GiB (HHFAST_RECORD_BUDGET, bytes); record "
            f"fewer variables, a subset of neurons (neurons=...), or decimate (record_every=...)"
        )
    out_bytes = N * (8 * max_spikes + 8 * (K.NI + K.NF + 4))
    if out_bytes > 0.8 * config.total_memory_bytes():
        raise ValueError(
            f"{N} neurons with max_spikes={max_spikes} need {out_bytes / 2**30:.1f} GiB of "
            f"outputs; lower max_spikes or run the batch with hhfast.sweep (chunked to disk)"
        )

    # ---- allocate outputs and run chunk by chunk ----
    kernel = _LAUNCH[spec.kind](spec)
    tb, tc0, tc1, tab_index = as_tables(list(stims.reshape(-1)))
    tab_of = np.broadcast_to(tab_index.reshape(stims.shape), shape).reshape(-1)
    flat = {k: np.broadcast_to(a, shape) for k, a in values.items()}
    y_out = np.empty((4, N))
    ic_out = np.empty((K.NI, N), dtype=np.int64)
    fo_out = np.empty((K.NF, N))
    spikes = np.full((N, max_spikes), np.nan)
    rec = np.full((len(rec_names), n_samples, rec_idx.size), np.nan)
    rec_var = np.array([STATE.index(s) for s in rec_names], dtype=np.int64)
    slot_of = np.full(N, -1, dtype=np.int64)
    slot_of[rec_idx] = np.arange(rec_idx.size)
    noise = None
    if noisy:  # the noisy twin of the kernel, its per-neuron trial ids and OU current
        kernel = spec.run_noisy
        tr = np.arange(N, dtype=np.uint64) if trial is None else np.broadcast_to(
            trial, shape).reshape(-1)
        noise = dict(seed=seed, trial=tr, k_first=k_first, current=np.zeros(N))

    old_threads = numba.get_num_threads()
    # never more threads than blocks: waking an idle thread for a batch of one block cost
    # ~6 ms per call (OpenMP layer, measured), 3x the gist's whole run; results do not
    # depend on the thread count
    use_threads = min(num_threads or old_threads, -(-min(N, config.CHUNK_NEURONS) // K.BLOCK))
    if use_threads != old_threads:
        numba.set_num_threads(use_threads)
    try:
        for lo in range(0, N, config.CHUNK_NEURONS):
            hi = min(N, lo + config.CHUNK_NEURONS)
            _run_chunk(
                kernel, flat, tab_of, tb, tc0, tc1, lo, hi, t_start, dt, n_steps, w0, w1,
                max_spikes, rec, slot_of, rec_var, record_every,
                y_out, ic_out, fo_out, spikes, dtype, noise,
            )
    finally:
        if use_threads != old_threads:
            numba.set_num_threads(old_threads)

    count = ic_out[K.I_COUNT]
    fo = fo_out.reshape((K.NF,) + shape)
    traces = {name: rec[r].T for r, name in enumerate(rec_names)}
    return SimResult(
        t=t_start + dt * (record_every * np.arange(n_samples)),  # t0 + k*dt, as the kernel
        traces=traces,
        recorded=rec_idx,
        spike_count=count.reshape(shape),
        spike_times=SpikeTimes(spikes, count, shape),
        first_spike=fo[K.F_FIRST],
        diverged=(ic_out[K.I_DIVSTEP] >= 0).reshape(shape),
        diverged_time=fo[K.F_DIVT],
        final_state={s: y_out[v].reshape(shape) for v, s in enumerate(STATE)},
        window=(w0, min(w1, t_end)),
        window_count=ic_out[K.I_WCOUNT].reshape(shape),
        window_first=fo[K.F_WFIRST],
        window_last=fo[K.F_WLAST],
        window_isi_sumsq=fo[K.F_WISI2],
        params=flat,
        method=method,
        dt=dt,
        t_start=t_start,
        t_stop=t_end,
        n_steps=n_steps,
        stimulus=stimulus,
        noise_current=None if noise is None else noise["current"].reshape(shape),
    )


def methods() -> dict[str, MethodSpec]:
    """The integration methods ``simulate`` accepts, name -> :class:`~hhfast.kernels.MethodSpec`
    (kernel, ``order``, ``kind``, ``stage_times``, ``check``, ``wp_range``, ``description``,
    ``reference``), in the order of the README's table.

    >>> import hhfast as hh
    >>> sorted(hh.methods())[:3]
    ['euler', 'expeuler', 'heun']
    >>> hh.methods()["rk4"].order
    4
    """
    return dict(METHODS)


def warmup(methods=None, dtypes=(np.float64, np.float32)) -> dict[tuple[str, str], float]:
    """Compile (or load from Numba's on-disk cache) the kernels, so that later calls start at
    once.

    A cold compile takes about 10–35 s per kernel (numbers in README, "Performance"); a
    process that finds them cached loads each in well under a second.

    Parameters
    ----------
    methods : sequence of str, optional
        Methods to prepare (default every method of :func:`hhfast.methods`).
    dtypes : sequence of dtype
        Floating types to prepare (default float64 and float32).

    Returns
    -------
    dict
        Seconds spent per ``(method, dtype name)``.
    """
    import time

    from .stimulus import step

    methods = sorted(METHODS) if methods is None else list(methods)
    for m in methods:
        if not isinstance(m, str) or m not in METHODS:
            raise ValueError(f"methods: unknown method {m!r}; choose from {sorted(METHODS)}")
    kinds = [C.float_dtype(d) for d in dtypes]
    spent = {}
    for m in methods:
        for d in kinds:
            t = time.perf_counter()
            simulate(step(), t_stop=0.01, dt=0.01, method=m, dtype=d)
            spent[(m, np.dtype(d).name)] = time.perf_counter() - t
    return spent


def _launch_fixed(spec):
    """The call of a fixed-step kernel (signature of ``kernels.common.drive_fixed``)."""
    return spec.run


#: kind of method -> function of its spec returning ``kernel(y, P, tidx, tb, c0, c1, t0, dt,
#: n_steps, win0, win1, ic, fo, spikes, rec, rec_slot, rec_var, record_every)``
_LAUNCH = {"fixed": _launch_fixed}


def _run_chunk(kernel, flat, tab_of, tb, tc0, tc1, lo, hi, t_start, dt, n_steps, w0, w1,
               max_spikes, rec, slot_of, rec_var, record_every, y_out, ic_out, fo_out, spikes,
               dtype=np.float64, noise=None):
    """Build the kernel's arrays for neurons [lo, hi), padded to whole blocks, run, copy back."""
    n = hi - lo
    npad = -(-n // K.BLOCK) * K.BLOCK
    take = np.minimum(np.arange(lo, lo + npad), hi - 1)  # pad with copies of the last neuron

    def col(name):
        a = flat[name]
        if a.strides == (0,) * a.ndim:  # one value for all neurons
            return np.full(npad, float(a.reshape(-1)[0]))
        return a.flat[take]  # gathers only this chunk's values, whatever the broadcast

    P = np.empty((K.NP, npad))
    for row, name in zip(
        (K.P_GNA, K.P_GK, K.P_GL, K.P_ENA, K.P_EK, K.P_EL, K.P_VREST),
        ("gNa", "gK", "gL", "ENa", "EK", "EL", "V_rest"),
    ):
        P[row] = col(name)
    P[K.P_ICM] = 1.0 / col("Cm")
    P[K.P_PHI] = 3.0 ** ((col("temperature") - 6.3) / 10.0)
    P[K.P_BIAS] = col("bias")
    P[K.P_AMP] = col("amplitude")
    P[K.P_THR] = (
        col("threshold") if "threshold" in flat else P[K.P_VREST] + config.SPIKE_THRESHOLD_ABOVE_REST
    )

    y = np.empty((4, npad))
    y[0] = col("V0") if "V0" in flat else P[K.P_VREST]
    n_inf, m_inf, h_inf = _steady_state_columns(P[K.P_VREST], P)
    for v, (name, default) in enumerate(zip(("n0", "m0", "h0"), (n_inf, m_inf, h_inf)), start=1):
        y[v] = col(name) if name in flat else default

    ic = np.zeros((K.NI, npad), dtype=np.int64)
    ic[K.I_ARMED] = y[0] < P[K.P_THR]
    ic[K.I_DIVSTEP] = -1
    fo = np.full((K.NF, npad), np.nan)
    fo[K.F_WISI2] = 0.0
    sp = np.full((npad, max_spikes), np.nan)
    slots = slot_of[take].copy()
    slots[n:] = -1
    if rec.shape[0]:
        own = slots[:n] >= 0
        for r, v in enumerate(rec_var):
            rec[r, 0, slots[:n][own]] = y[v, :n][own]
    if dtype != np.float64:
        # the initial state and parameters are rounded once; steady states were computed in
        # float64 above, so float32 runs start from the same (rounded) state
        y, P = y.astype(dtype), P.astype(dtype)
    args = (y, P, tab_of[take], tb, tc0, tc1, t_start, dt, n_steps, w0, w1, ic, fo, sp, rec,
            slots, rec_var, record_every if rec.shape[0] else n_steps + 1)
    if noise is None:
        kernel(*args)
    else:
        sigma = col("noise_sigma") if "noise_sigma" in flat else np.zeros(npad)
        tau = col("noise_tau") if "noise_tau" in flat else np.zeros(npad)
        trial = np.ascontiguousarray(noise["trial"][take])
        ou = noise_initial_current(sigma, tau, col("noise_I0") if "noise_I0" in flat else None,
                                   noise["seed"], trial, noise["k_first"])
        key = key_from_seed(noise["seed"]).astype(np.uint64)
        kernel(*args, noise_coefficients(sigma, tau, 1.0 / col("Cm"), dt).astype(dtype), trial,
               ou, key[0], key[1], np.int64(noise["k_first"]))
        noise["current"][lo:hi] = ou[:n]
    y_out[:, lo:hi] = y[:, :n]
    ic_out[:, lo:hi] = ic[:, :n]
    fo_out[:, lo:hi] = fo[:, :n]
    spikes[lo:hi] = sp[:n]


def _steady_state_columns(V, P):
    """Gate steady states at V (mV) for per-neuron V_rest (φ cancels in α/(α+β))."""
    u = V - P[K.P_VREST]
    return steady_state(u, HHParams(V_rest=0.0))
