"""The engine: ``simulate`` = ``plan`` -> ``launch`` -> ``assemble`` (docs/architecture.md §4).

* :mod:`.plan` checks a call once (``_checks.simulate_call``: everything is validated before any
  kernel is compiled or any large array allocated, so bad input costs nothing and names the
  argument at fault) and lays it out as a frozen :class:`~.plan.RunPlan`, which can be re-run
  with new per-neuron values;
* :mod:`.launch` runs a plan chunk by chunk on its backend under :data:`KERNEL_LOCK`;
* :mod:`.assemble` turns the kernels' outputs into a :class:`~hhfast.result.SimResult` (shared
  with the scipy and Markov references);
* :mod:`.backend` is the seam to the target: :class:`~.backend.Backend`, the CPU backend,
  :func:`~.backend.backends`.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as C
from .. import _firstuse, config
from ..errors import InputValueError
from ..kernels import METHODS, MethodSpec, compiled
from ..model import HHParams
from ..result import SimResult
from .backend import BACKENDS, Backend, BackendStatus, backends, register_backend
from .launch import KERNEL_LOCK
from .plan import RunPlan
from .plan import plan as _plan  # (hhfast.engine.plan stays the module; hh.plan is this)

__all__ = ["BACKENDS", "KERNEL_LOCK", "Backend", "BackendStatus", "RunPlan", "backends",
           "methods", "register_backend", "simulate", "warmup"]

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
    backend: str = "cpu",
    features=None,
    feature_window=None,
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
        ``"heun"``, ``"expeuler"``, ``"rush_larsen"``, ``"rl2"``, ``"dopri5"``;
        docs/guide/methods.md); default ``"rk4"``, and ``"euler"`` (Euler–Maruyama, the one method of
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
        disarmed until V falls ``spike_rearm`` below the threshold (docs/guide/simulate.md).
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
        their error is that of single precision (see docs/performance.md).
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
        (docs/guide/noise.md).
    channel_noise : {None, "channel", "shielding", "subunit"}
        Channel noise of a membrane patch of ``area`` µm² (docs/guide/channel-noise.md;
        :mod:`hhfast.kernels.terms.channel`): ``"channel"`` the channel-based Langevin model on the
        8 Na + 5 K occupancies (accurate), ``"shielding"`` the same with noise only on the
        transitions of the open states (cheaper), ``"subunit"`` Fox & Lu's gate noise
        (inaccurate, for comparison); None (default) the deterministic model.  Runs with
        ``method="euler"`` (Euler–Maruyama), may add current noise, take their random numbers
        from ``seed`` and ``trial`` like current noise, and record ``"V"``, ``"K_open"``,
        ``"Na_open"`` (open fractions); ``final_state`` holds those three and ``info`` the
        occupancies (``"K_states"``, ``"Na_states"``; gates ``"n"``, ``"m"``, ``"h"`` for
        ``"subunit"``).
    backend : str
        Where the kernels run: a name of :func:`hhfast.backends` that this machine can run:
        ``"cpu"`` (default: Numba on the CPU cores) or ``"cuda"`` (an NVIDIA GPU through
        numba-cuda, one thread per neuron, fixed-step methods; docs/guide/gpu.md).
    features : list of str, optional
        Electrophysiology features to compute inside the kernel, named and defined as eFEL's
        (:data:`hhfast.FEATURES`; :mod:`hhfast.features`): ``SimResult.features[name]`` is a
        float64 array of the batch shape, NaN where undefined (e.g. no spike).  No trace is
        stored; fixed-step methods only.  eFEL's ``Threshold`` is ``threshold``.
    feature_window : (float, float) or list of (float, float), optional
        The window ``(t0, t1)`` (ms; eFEL's ``stim_start``, ``stim_end``) of the features
        (default the whole run); a list of windows gives each feature a trailing window
        axis.  Each must lie within the run.
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
    return _plan(
        stimulus, t_stop, dt, method, params, t_start=t_start, threshold=threshold,
        spike_rearm=spike_rearm, spike_armed=spike_armed, record=record,
        record_every=record_every, neurons=neurons, max_spikes=max_spikes, window=window,
        num_threads=num_threads, dtype=dtype, rtol=rtol, atol=atol, max_steps=max_steps,
        seed=seed, trial=trial, channel_noise=channel_noise, backend=backend,
        features=features, feature_window=feature_window, **per_neuron,
    ).run()


def methods() -> dict[str, MethodSpec]:
    """The integration methods ``simulate`` accepts, name -> :class:`~hhfast.kernels.MethodSpec`
    (kernel, ``order``, ``kind``, ``stage_times``, ``check``, ``wp_range``, ``description``,
    ``reference``), in the order of the registry (and of the documentation's table).

    >>> import hhfast as hh
    >>> sorted(hh.methods())[:3]
    ['euler', 'expeuler', 'heun']
    >>> hh.methods()["rk4"].order
    4
    """
    return dict(METHODS)


def warmup(methods=None, dtypes=(np.float64, np.float32), progress: bool = False,
           channel_noise=(), noise: bool = True, features: bool = False,
           ) -> dict[tuple[str, str], float]:
    """Compile (or load from Numba's on-disk cache) the kernels, so that later calls start at
    once.

    A cold compile takes about 5–15 CPU-s per kernel (docs/performance.md); a process that
    finds them cached loads each in well under a second.

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
    noise : bool
        Also the current-noise kernel of each fixed-step method (default True).
    features : bool
        Also the kernel of each fixed-step method with the features term
        (``simulate(features=...)``; default False: about 10 CPU-s more per kernel).

    Returns
    -------
    dict
        Seconds spent per ``(kernel, dtype name)``: ``"rk4"``, ``"noisy rk4"``,
        ``"rk4 + features"``, and channel-noise kernels under ``"<model> channel-noise"``.
    """
    import time

    from ..stimulus import step

    progress = C.flag("progress", progress)
    noise = C.flag("noise", noise)
    features = C.flag("features", features)
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
    ] + [
        (f"noisy {m}", d, dict(method=m, noise_sigma=1.0)) for m in methods for d in kinds
        if noise and METHODS[m].noise
    ] + [
        (f"{m} + features", d, dict(method=m, features=["Spikecount"]))
        for m in methods for d in kinds if features and METHODS[m].kind != "adaptive"
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
