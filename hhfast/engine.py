"""simulate(): check inputs, broadcast per-neuron values, size memory, chunk, run a kernel.

Everything is validated before any kernel is compiled or any large array allocated, so bad
input costs nothing and names the argument at fault.
"""

from __future__ import annotations

import threading
import warnings

import numba
import numpy as np

from . import _checks as C
from . import _firstuse, config
from .errors import InputValueError, StepLimitWarning, TruncationWarning
from .kernels import CHANNELS, METHODS, MethodSpec, compiled, cpu
from .kernels import layout as K
from .model import HHParams, steady_state
from .noise import coefficients as noise_coefficients
from .noise import initial_current as noise_initial_current
from .random import key_from_seed
from .result import SimResult, SpikeTimes
from .stimulus import as_tables

#: Held around every kernel launch and the ``numba.set_num_threads`` calls that frame it, so
#: ``simulate`` is safe from several Python threads whatever Numba's threading layer (the
#: default workqueue layer aborts the process when two threads launch parallel kernels at
#: once; ``set_num_threads`` is per thread).  Re-entrant, so a caller may hold it around
#: ``simulate``.  Calls from several threads run their kernels one after another; the
#: checks, allocation and result building still overlap.
KERNEL_LOCK = threading.RLock()

_firstuse.install(compiled())
# (one line on stderr before a kernel compiles: first use)


# -- the call -----------------------------------------------------------------------------------
def simulate(
    stimulus,
    t_stop: float,
    dt: float = 0.01,
    method: str | None = None,
    params: HHParams | None = None,
    *,
    t_start: float = 0.0,
    threshold=None,
    spike_rearm=None,
    spike_armed=None,
    record=None,
    record_every: int = 1,
    neurons=None,
    max_spikes: int = config.MAX_SPIKES,
    window: tuple[float, float] | None = None,
    num_threads: int | None = None,
    dtype=np.float64,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    trial=None,
    channel_noise: str | None = None,
    **per_neuron,
) -> SimResult:
    """Integrate the HH model for a batch of neurons with a fixed-step or adaptive method.

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
        Time step (ms).  For an adaptive method (``"dopri5"``): the first trial step of every
        neuron (the controller adapts it within a step or two) and, times ``record_every``,
        the spacing of the recorded samples; the run then ends exactly at ``t_stop``.
    method : str, optional
        Integration method, a name of :func:`hhfast.methods` (``"rk4"``, ``"euler"``,
        ``"heun"``, ``"expeuler"``, ``"rush_larsen"``, ``"rl2"``, ``"dopri5"``; README,
        "Methods"); default ``"rk4"``, and ``"euler"`` (Euler–Maruyama, the one method of
        channel noise) when ``channel_noise`` is given.  ``"dopri5"`` is adaptive: every
        neuron with its own step size and time (see :mod:`hhfast.kernels.dopri5`; float64
        only).
    params : HHParams, optional
        Model parameters (default :meth:`HHParams.classic`); any field can be overridden per
        neuron as a keyword argument.
    t_start : float
        Start time (ms), e.g. from :meth:`SimResult.continuation`.
    threshold : float or array, optional
        Spike threshold (mV); default ``V_rest + config.SPIKE_THRESHOLD_ABOVE_REST``
        (50 mV above rest).  A spike is an upward crossing by an armed detector, which is then
        disarmed until V falls ``spike_rearm`` below the threshold (README, "Spikes").
    spike_rearm : float or array, optional
        Re-arm margin (mV, >= 0): after a spike the next one counts only once V has been below
        ``threshold - spike_rearm`` at the end of a step (hysteresis; default
        ``config.SPIKE_REARM_MV`` = 10 mV).  It keeps the jitter of a noisy path around the
        threshold from counting as spikes, so noisy rates converge as dt shrinks; 0 gives the
        old rule (re-arm as soon as V is below the threshold).
    spike_armed : bool or array of bool, optional
        The detector's state at ``t_start`` per neuron (broadcast with the per-neuron values):
        default armed where ``V0`` is below the threshold.  :meth:`SimResult.continuation`
        passes on the final state (``SimResult.spike_armed``), so a run split in two counts
        the spikes of the unbroken run even when the cut falls between a spike and V's fall
        below the re-arm level.  Refused where no run reaches it: True with V0 at or above the
        threshold, False with V0 below the re-arm level.
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
    rtol, atol : float, optional
        Adaptive methods only: relative and absolute tolerance of the local error per step
        (default ``rtol = config.ADAPTIVE_RTOL`` = 1e-6, ``atol = rtol``; atol in mV for V,
        dimensionless for the gates).  Spike-time errors scale about linearly with them.
    max_steps : int, optional
        Adaptive methods only: step attempts allowed per neuron (default
        ``config.ADAPTIVE_MAX_STEPS``); a neuron that reaches it is frozen there, flagged in
        ``SimResult.step_limited`` with its stop time in ``SimResult.stop_time``, and a
        :class:`~hhfast.errors.StepLimitWarning` says so; its rates and window statistics
        cover only the time computed, and ``continuation()`` refuses the run.
    seed : int
        Seed of the noise, in ``[0, 2^64)`` (default 0: the same call gives the same numbers).
    trial : int or array of int, optional
        Noise identity of each neuron, in ``[0, 2^64)``, broadcast with the per-neuron values
        (default: the neuron's flat index in the batch).  A neuron with the same ``seed``,
        ``trial``, ``dt`` and values gets the same noise in any batch, chunk or thread count
        (README, "Noise").
    channel_noise : {None, "channel", "shielding", "subunit"}
        Channel noise of a membrane patch of ``area`` µm² (README, "Channel noise";
        :mod:`hhfast.kernels.channel`): ``"channel"`` the channel-based Langevin model on the
        8 Na + 5 K occupancies (accurate), ``"shielding"`` the same with noise only on the
        transitions of the open states (cheaper), ``"subunit"`` Fox & Lu's gate noise
        (inaccurate, for comparison); None (default) the deterministic model.  Runs with
        ``method="euler"`` (Euler–Maruyama), may add current noise, take their random numbers
        from ``seed`` and ``trial`` like current noise, and record ``"V"``, ``"K_open"``,
        ``"Na_open"`` (open fractions); ``final_state`` holds those three and ``info`` the
        occupancies (``"K_states"``, ``"Na_states"``; gates ``"n"``, ``"m"``, ``"h"`` for
        ``"subunit"``).
    **per_neuron : float or array
        Any of ``gNa, gK, gL, ENa, EK, EL, Cm, V_rest, temperature`` (overriding ``params``),
        ``amplitude`` (default 1), ``bias`` (µA/cm², default 0), initial values ``V0, n0, m0,
        h0`` (default: the resting state — V = V_rest and each gate at its steady state at
        V_rest, whatever ``V0`` is, as in HH's initial-depolarisation experiments), and the
        noise ``noise_sigma`` (white: µA/cm²·ms^½; OU: µA/cm²; default 0), ``noise_tau``
        (ms, 0 = white), ``noise_I0`` (µA/cm², the OU current at ``t_start``; see
        :mod:`hhfast.noise`), and with ``channel_noise`` the patch ``area`` (µm², default 100)
        and channel densities ``rho_Na`` (default 60) and ``rho_K`` (default 18 per µm²).
        Arrays
        broadcast together by NumPy rules; the broadcast shape is the batch shape of the result.

    Returns
    -------
    SimResult
    """
    # ---- every check of the call (the one shared by every face: _checks.simulate_call) ----
    c = C.simulate_call(
        stimulus, t_stop, dt, method, params, t_start=t_start, threshold=threshold,
        record=record, record_every=record_every, max_spikes=max_spikes, window=window,
        num_threads=num_threads, dtype=dtype, rtol=rtol, atol=atol, max_steps=max_steps,
        seed=seed, trial=trial, channel_noise=channel_noise, neurons=neurons,
        spike_rearm=spike_rearm, spike_armed=spike_armed, **per_neuron)
    method, channel_noise, spec, adaptive = c.method, c.channel_noise, c.spec, c.adaptive
    rtol, atol, max_steps, dt, t_start = c.rtol, c.atol, c.max_steps, c.dt, c.t_start
    n_steps, t_end, max_spikes, record_every = c.n_steps, c.t_end, c.max_spikes, c.record_every
    state_names, rec_names, num_threads, dtype = c.state_names, c.rec_names, c.num_threads, c.dtype
    stims, values, noisy, seed, trial = c.stims, c.values, c.noisy, c.seed, c.trial
    shape, N, k_first, w0, w1 = c.shape, c.N, c.k_first, c.w0, c.w1
    rec_idx, record_every, n_samples = c.rec_idx, c.record_every, c.n_samples

    # ---- allocate outputs and run chunk by chunk ----
    stats_parts = []
    if adaptive:
        kernel = spec.run
        adapt = (t_end, rtol, atol, max_steps, stats_parts)
    elif channel_noise is not None:
        kernel = cpu.kernel(CHANNELS[channel_noise].step, "channel")
    else:
        kernel = cpu.kernel(spec.step, "noise" if noisy else "plain")
    tb, tc0, tc1, tab_index = as_tables(list(stims.reshape(-1)))
    tab_of = np.broadcast_to(tab_index.reshape(stims.shape), shape).reshape(-1)
    flat = {k: np.broadcast_to(a, shape) for k, a in values.items()}
    armed = None if c.armed is None else np.broadcast_to(c.armed, shape)
    y_out = np.empty((4, N))
    ic_out = np.empty((K.NI, N), dtype=np.int64)
    fo_out = np.empty((K.NF, N))
    spikes = np.full((N, max_spikes), np.nan)
    rec = np.full((len(rec_names), n_samples, rec_idx.size), np.nan)
    rec_var = np.array([state_names.index(s) for s in rec_names], dtype=np.int64)
    slot_of = np.full(N, -1, dtype=np.int64)
    slot_of[rec_idx] = np.arange(rec_idx.size)
    noise = None
    if noisy:  # per-neuron trial ids and OU current
        tr = np.arange(N, dtype=np.uint64) if trial is None else np.broadcast_to(
            trial, shape).reshape(-1)
        noise = dict(seed=seed, trial=tr, k_first=k_first, current=np.zeros(N))
    if channel_noise is not None:  # the final occupancies
        noise["channel"] = CHANNELS[channel_noise]
        noise["X"] = np.empty((K.NX, N))

    with KERNEL_LOCK:
        old_threads = numba.get_num_threads()
        # never more threads than blocks: waking an idle thread for a batch of one block cost
        # ~6 ms per call (OpenMP layer, measured), 3x the gist's whole run; results do not
        # depend on the thread count
        use_threads = min(num_threads or old_threads,
                          -(-min(N, config.CHUNK_NEURONS) // config.BLOCK))
        if use_threads != old_threads:
            numba.set_num_threads(use_threads)
        try:
            for lo in range(0, N, config.CHUNK_NEURONS):
                hi = min(N, lo + config.CHUNK_NEURONS)
                _run_chunk(
                    kernel, flat, tab_of, tb, tc0, tc1, lo, hi, t_start, dt, n_steps, w0, w1,
                    max_spikes, rec, slot_of, rec_var, record_every,
                    y_out, ic_out, fo_out, spikes, dtype, noise, armed,
                    adapt if adaptive else None,
                )
        finally:
            if use_threads != old_threads:
                numba.set_num_threads(old_threads)

    count = ic_out[K.I_COUNT]
    if max_spikes > 0:
        _warn_truncated(count, max_spikes)
    t_rec = t_start + dt * (record_every * np.arange(n_samples))  # t0 + k*dt, as the kernel
    extra = {}
    if adaptive:
        stats = np.concatenate(
            [p[:, : min(config.CHUNK_NEURONS, N - lo)]
             for p, lo in zip(stats_parts, range(0, N, config.CHUNK_NEURONS))], axis=1)
        t_rec = np.minimum(t_rec, t_end)
        n_steps = int(stats[0].max())
        limited = stats[2] != 0
        # the kernel leaves the freeze time in F_DIVT for both kinds of freeze: split them
        stop_time = np.where(limited, fo_out[K.F_DIVT], np.nan)
        fo_out[K.F_DIVT] = np.where(limited, np.nan, fo_out[K.F_DIVT])
        if limited.any():
            _warn_step_limited(stop_time[limited], limited.size, max_steps, t_end)
        extra = dict(steps_accepted=stats[0].reshape(shape), steps_rejected=stats[1].reshape(shape),
                     step_limited=limited.reshape(shape), stop_time=stop_time.reshape(shape),
                     rtol=rtol, atol=atol)
    fo = fo_out.reshape((K.NF,) + shape)
    traces = {name: rec[r].T for r, name in enumerate(rec_names)}
    final_state = {s: y_out[v].reshape(shape) for v, s in enumerate(state_names)}
    if channel_noise is not None:
        extra["info"] = _channel_info(channel_noise, noise["X"], shape)
    return SimResult(
        t=t_rec,
        traces=traces,
        recorded=rec_idx,
        spike_count=count.reshape(shape),
        spike_times=SpikeTimes(spikes, count, shape),
        first_spike=fo[K.F_FIRST],
        diverged=(ic_out[K.I_DIVSTEP] >= 0).reshape(shape),
        diverged_time=fo[K.F_DIVT],
        final_state=final_state,
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
        channel_noise=channel_noise,
        spike_armed=(ic_out[K.I_ARMED] != 0).reshape(shape),
        **extra,
    )


#: the recordable variables of a channel-noise run (rows of the kernel's state)
CHANNEL_STATE = C.CHANNEL_STATE


def _channel_info(model: str, X: np.ndarray, shape) -> dict:
    """``SimResult.info`` of a channel-noise run: the final occupancies (fractions; K states
    ``n0..n4`` and Na states ``m_i h_j`` at ``i + 4 j``, as ``hhfast.reference.markov``) or,
    for the subunit model, the final gates."""
    if CHANNELS[model].state == "gates":
        return {g: X[r].reshape(shape) for r, g in enumerate("nmh")}
    return {"K_states": X[:5].T.reshape(shape + (5,)),
            "Na_states": X[5:].T.reshape(shape + (8,))}


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


def warmup(methods=None, dtypes=(np.float64, np.float32), progress: bool = False,
           channel_noise=(),
           ) -> dict[tuple[str, str], float]:
    """Compile (or load from Numba's on-disk cache) the kernels, so that later calls start at
    once.

    A cold compile takes about 10–35 s per kernel (numbers in README, "Performance"); a
    process that finds them cached loads each in well under a second.

    Parameters
    ----------
    methods : sequence of str, optional
        Methods to prepare (default every method of :func:`hhfast.methods`; the adaptive ones
        in float64 only).
    dtypes : sequence of dtype
        Floating types to prepare (default float64 and float32).
    progress : bool
        Show a progress bar (tqdm, on stderr) over the kernels.
    channel_noise : sequence of str
        Channel-noise models whose kernels to prepare too (``"channel"``, ``"shielding"``,
        ``"subunit"``; default none), in each of ``dtypes``.

    Returns
    -------
    dict
        Seconds spent per ``(method, dtype name)``; channel-noise kernels under
        ``("<model> channel-noise", dtype name)``.
    """
    import time

    from .stimulus import step

    progress = C.flag("progress", progress)
    methods = sorted(METHODS) if methods is None else _names("methods", methods)
    for m in methods:
        if not isinstance(m, str) or m not in METHODS:
            raise InputValueError(f"methods: unknown method {m!r}; choose from {sorted(METHODS)}")
    models = _names("channel_noise", channel_noise)
    for c in models:
        C.method_and_channel(None, c)  # a known model, or an InputError naming it
    kinds = C.float_dtypes("dtypes", dtypes)
    spent = {}
    todo = [
        (m, d, dict(method=m)) for m in methods for d in kinds
        # adaptive methods are float64 only
        if not (METHODS[m].kind == "adaptive" and d != np.float64)
    ] + [(f"{c} channel-noise", d, dict(channel_noise=c)) for c in models for d in kinds]
    if progress:
        from tqdm.auto import tqdm

        todo = tqdm(todo, desc="hhfast warmup", unit="kernel")
    for m, d, kw in todo:
        if progress:
            todo.set_postfix_str(f"{m} {np.dtype(d).name}")
        t = time.perf_counter()
        simulate(step(), t_stop=0.01, dt=0.01, dtype=d, **kw)
        spent[(m, np.dtype(d).name)] = time.perf_counter() - t
    return spent


def _names(name: str, value) -> list:
    """A list of names from an argument of :func:`warmup` (one string is one name)."""
    return [value] if isinstance(value, str) else C.sequence(name, value)


def _run_chunk(kernel, flat, tab_of, tb, tc0, tc1, lo, hi, t_start, dt, n_steps, w0, w1,
               max_spikes, rec, slot_of, rec_var, record_every, y_out, ic_out, fo_out, spikes,
               dtype=np.float64, noise=None, armed=None, adapt=None):
    """Build the kernel's arrays for neurons [lo, hi), padded to whole blocks, run, copy back.
    ``armed``: ``spike_armed`` broadcast to the batch shape (None: the default rule)."""
    n = hi - lo
    npad = -(-n // config.BLOCK) * config.BLOCK
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
    P[K.P_REARM] = C.rearm_level(P[K.P_THR], col("spike_rearm") if "spike_rearm" in flat else None)

    y = np.empty((4, npad))
    y[0] = col("V0") if "V0" in flat else P[K.P_VREST]
    n_inf, m_inf, h_inf = _steady_state_columns(P[K.P_VREST], P)
    for v, (name, default) in enumerate(zip(("n0", "m0", "h0"), (n_inf, m_inf, h_inf)), start=1):
        y[v] = col(name) if name in flat else default

    ic = np.zeros((K.NI, npad), dtype=np.int64)
    ic[K.I_ARMED] = C.initial_armed(None if armed is None else armed.flat[take], y[0],
                                     P[K.P_THR])
    ic[K.I_DIVSTEP] = -1
    fo = np.full((K.NF, npad), np.nan)
    fo[K.F_WISI2] = 0.0
    sp = np.full((npad, max_spikes), np.nan)
    slots = slot_of[take].copy()
    slots[n:] = -1
    if rec.shape[0]:
        own = slots[:n] >= 0
        y0 = y
        if noise is not None and "channel" in noise:  # sample 0: V and the open fractions
            y0 = np.stack([y[0], y[1] ** 4, y[2] ** 3 * y[3]])
        for r, v in enumerate(rec_var):
            rec[r, 0, slots[:n][own]] = y0[v, :n][own]
    if dtype != np.float64:
        # the initial state and parameters are rounded once; steady states were computed in
        # float64 above, so float32 runs start from the same (rounded) state
        y, P = y.astype(dtype), P.astype(dtype)
    b = K.Batch(y, P, tab_of[take], tb, tc0, tc1, ic, fo, sp, rec, slots, rec_var,
                float(t_start), float(dt), int(n_steps), float(w0), float(w1),
                int(record_every if rec.shape[0] else n_steps + 1))
    if adapt is not None:
        t_end, rtol, atol, max_steps, parts = adapt
        stats = np.zeros((K.NS, npad), dtype=np.int64)
        rec_dt = dt * record_every if rec.shape[0] else t_end - t_start
        _launch(kernel, b, K.AdaptiveBatch(float(t_end), float(rtol), float(atol),
                                           int(max_steps), float(rec_dt), stats))
        parts.append(stats)
    elif noise is None:
        _launch(kernel, b)
    else:
        sigma = col("noise_sigma") if "noise_sigma" in flat else np.zeros(npad)
        tau = col("noise_tau") if "noise_tau" in flat else np.zeros(npad)
        trial = np.ascontiguousarray(noise["trial"][take])
        ou = noise_initial_current(sigma, tau, col("noise_I0") if "noise_I0" in flat else None,
                                   noise["seed"], trial, noise["k_first"])
        key = key_from_seed(noise["seed"]).astype(np.uint64)
        nb = K.NoiseBatch(noise_coefficients(sigma, tau, 1.0 / col("Cm"), dt).astype(dtype),
                          trial, ou, key[0], key[1], int(noise["k_first"]))
        if "channel" in noise:  # occupancies (or gates) from the initial gates, 1/N per kind
            model = noise["channel"]
            X, NC = K.channel(model.state == "gates", y, col)
            X, NC = X.astype(dtype), NC.astype(dtype)
            _launch(kernel, b, nb, K.ChannelBatch(X, NC, K.philox_calls(model.sources),
                                                  model.state == "gates"))
            noise["X"][:, lo:hi] = X[:, :n]
        else:
            _launch(kernel, b, nb)
        noise["current"][lo:hi] = ou[:n]
    y_out[:, lo:hi] = y[:, :n]
    ic_out[:, lo:hi] = ic[:, :n]
    fo_out[:, lo:hi] = fo[:, :n]
    spikes[lo:hi] = sp[:n]


def _launch(kernel, b, *terms):
    """Run ``kernel`` on every block of ``b``."""
    kernel(b._replace(blk0=0, blk1=b.y.shape[1] // config.BLOCK), *terms)


def _warn_truncated(count: np.ndarray, max_spikes: int) -> None:
    """Warn once per call when neurons fired more spikes than ``max_spikes`` could store."""
    over = count > max_spikes
    if over.any():
        k = int(over.sum())
        most = int(count.max())
        warnings.warn(
            f"{k} of {count.size} neurons fired more than max_spikes={max_spikes} spikes (up to "
            f"{most}); spike_times holds only the first {max_spikes} of each (spike_count, "
            f"rates and window statistics count them all); pass max_spikes={most} to keep "
            f"every time",
            TruncationWarning,
            stacklevel=3,
        )


def _warn_step_limited(stops: np.ndarray, n: int, max_steps: int, t_end: float) -> None:
    """Warn once per call that the ``max_steps`` guard stopped neurons before ``t_end``."""
    warnings.warn(
        f"{stops.size} of {n} neurons were stopped by max_steps={max_steps} step attempts before "
        f"t_stop={t_end} ms (earliest at t={float(stops.min()):.6g} ms): their state is frozen "
        f"there (SimResult.step_limited, SimResult.stop_time), their rates and window "
        f"statistics cover only the time computed, and continuation() refuses the run; raise "
        f"max_steps or loosen rtol/atol",
        StepLimitWarning,
        stacklevel=3,
    )


def _steady_state_columns(V, P):
    """Gate steady states at V (mV) for per-neuron V_rest (φ cancels in α/(α+β))."""
    u = V - P[K.P_VREST]
    return steady_state(u, HHParams(V_rest=0.0))
