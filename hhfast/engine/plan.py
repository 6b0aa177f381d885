"""``plan``: a call of :func:`hhfast.simulate`, checked once and laid out for the launch
(docs/architecture.md §4).

:func:`plan` runs every check of the call (``_checks.simulate_call``), broadcasts the per-neuron
values to the batch shape, looks the method, the channel model and the backend up once, and
returns a frozen :class:`RunPlan`.  :meth:`RunPlan.run` runs it, optionally with new per-neuron
values, which are the only thing it checks: a fitting loop that changes ``gNa`` and
``amplitude`` a thousand times pays the checks of the rest once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import _checks as C
from ..errors import InputTypeError, InputValueError
from ..kernels import CHANNELS
from ..kernels.spec import ChannelSpec, MethodSpec
from ..random import key_from_seed
from ..stimulus import as_tables
from .backend import BACKENDS, Backend


# -- the parts of a plan -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NoiseTerm:
    """The random numbers of a noisy run (current or channel noise): the ``seed`` and its
    Philox key words ``k0, k1``, each neuron's noise identity ``trial`` (flat, uint64) and
    ``k_first``, the index of the run's first step counted from t = 0."""

    seed: int
    k0: np.uint64
    k1: np.uint64
    trial: np.ndarray
    k_first: int


@dataclass(frozen=True)
class AdaptiveTerm:
    """An error-controlled method's options: tolerances, step attempts allowed per neuron."""

    rtol: float
    atol: float
    max_steps: int


@dataclass(frozen=True, eq=False)
class Recording:
    """What is recorded: ``names`` of the kernel's state rows ``rows`` (int64), of the neurons
    ``neurons`` (flat indices), whose slot in the traces is ``slot[i]`` (-1: not recorded),
    every ``every`` steps, ``n_samples`` samples (the initial state is sample 0)."""

    names: tuple[str, ...]
    rows: np.ndarray
    neurons: np.ndarray
    slot: np.ndarray
    every: int
    n_samples: int


@dataclass(frozen=True, eq=False)
class Tables:
    """The stimulus tables of the batch (:func:`hhfast.stimulus.as_tables`): ``tb, c0, c1``
    and each neuron's table ``index`` (flat)."""

    tb: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    index: np.ndarray


@dataclass(frozen=True, eq=False)
class RunPlan:
    """One :func:`hhfast.simulate` call, checked and laid out; :meth:`run` runs it.

    Made by :func:`hhfast.plan`.  Frozen: a re-run with new per-neuron values makes a new plan
    (sharing every other array with this one).

    Attributes
    ----------
    stimulus : Stimulus or sequence of Stimulus
        As given (``SimResult.stimulus``).
    method : MethodSpec
        The integration method.
    channel : ChannelSpec or None
        The channel-noise model (the channel term), None without channel noise.
    noise : NoiseTerm or None
        The random numbers of a noisy run (current or channel noise), None for a
        deterministic run.
    seed : int
        The noise seed (kept by a deterministic plan too, for :meth:`run` values that give
        it noise).
    trial : ndarray of uint64 or None
        The ``trial`` ids as given (None: each neuron's flat index).
    adaptive : AdaptiveTerm or None
        Tolerances and step budget of an adaptive method, None for a fixed-step one.
    backend : Backend
        Where the kernels run (:func:`hhfast.backends`).
    shape : tuple of int
        The batch shape; ``n`` its number of neurons.
    values : mapping of str to ndarray
        Every per-neuron value, broadcast to ``shape`` (read-only views): ``SimResult.params``.
    armed : ndarray of bool or None
        ``spike_armed`` broadcast to ``shape`` (None: armed where V0 is below the threshold).
    t_start, dt, t_end : float
        Start, step (an adaptive method's first trial step) and end of the run (ms).
    n_steps : int
        Steps of a fixed-step run (an adaptive one: the sample steps up to ``t_end``).
    window : (float, float)
        The analysis window ``[t0, t1)`` (ms; t1 may be inf: the run's end).
    max_spikes : int
        Spike times stored per neuron.
    dtype : type
        ``numpy.float64`` or ``numpy.float32``.
    num_threads : int or None
        Threads asked for (None: the backend's default).
    state : tuple of str
        The kernel's state rows (``V, n, m, h``; a channel run ``V, K_open, Na_open``).
    recording : Recording
        What is recorded.
    tables : Tables
        The stimulus tables.
    features : tuple of str
        The features asked for (:data:`hhfast.FEATURES`; empty: the run has no features term).
    feature_windows : ndarray or None
        Their windows ``[NW, 2]`` (ms).
    feature_several : bool
        Whether ``feature_window`` was a list of windows (the features get a trailing axis).
    """

    stimulus: Any
    method: MethodSpec
    channel: ChannelSpec | None
    noise: NoiseTerm | None
    seed: int
    trial: np.ndarray | None
    adaptive: AdaptiveTerm | None
    backend: Backend
    shape: tuple[int, ...]
    n: int
    values: Mapping[str, np.ndarray]
    armed: np.ndarray | None
    t_start: float
    dt: float
    t_end: float
    n_steps: int
    window: tuple[float, float]
    max_spikes: int
    dtype: type
    num_threads: int | None
    state: tuple[str, ...]
    recording: Recording
    tables: Tables
    features: tuple[str, ...] = ()
    feature_windows: np.ndarray | None = None
    feature_several: bool = False

    def run(self, **values):
        """Run the plan, with new per-neuron values where given.

        Parameters
        ----------
        **values : float or array
            Per-neuron values of :func:`hhfast.simulate` (model fields, ``amplitude``,
            ``bias``, ``V0, n0, m0, h0``, ``threshold``, ``spike_rearm``, the noise values,
            with a channel model ``area, rho_Na, rho_K``) and ``trial``, ``spike_armed``.
            Only these are checked, by the rules ``simulate`` applies to them (and the checks
            across values that they take part in); every other argument keeps the plan's
            checked value.  Each must broadcast to the plan's batch shape ``shape`` (its
            outputs, recordings and stimuli are laid out for it): make a new plan for another
            shape.  Values that give a deterministic plan noise add the noise term, as
            ``simulate`` would (and the reverse).

        Returns
        -------
        SimResult
            The result ``simulate`` gives for the plan's call with these values, bit for bit.
        """
        from . import assemble, launch

        p = self.with_values(**values) if values else self
        return assemble.assemble(p, launch.launch(p))

    def with_values(self, **values) -> RunPlan:
        """The plan with new per-neuron values (checked as :meth:`run` says); :meth:`run`
        runs it."""
        return _with_values(self, values)


# -- making a plan -------------------------------------------------------------------------------
def plan(stimulus, t_stop: float, dt: float = 0.01, method: str | None = None,
         params=None, **options) -> RunPlan:
    """Check a :func:`hhfast.simulate` call and lay it out for running, without running it.

    Parameters
    ----------
    stimulus, t_stop, dt, method, params, **options
        Exactly the arguments of :func:`hhfast.simulate` (``backend`` included), checked as
        ``simulate`` checks them, here and once.

    Returns
    -------
    RunPlan
        ``plan(...).run()`` is ``simulate(...)``; ``plan(...).run(gNa=..., amplitude=...)``
        re-runs the batch with new per-neuron values, checking only those.

    Examples
    --------
    >>> import numpy as np, hhfast as hh
    >>> p = hh.plan(hh.step(), t_stop=20.0, amplitude=np.linspace(0, 20, 100))
    >>> p.shape
    (100,)
    >>> res = p.run(gNa=np.full(100, 110.0))  # doctest: +SKIP
    """
    options.setdefault("backend", "cpu")
    c = C.simulate_call(stimulus, t_stop, dt, method, params, backends=BACKENDS, **options)
    channel = CHANNELS[c.channel_noise] if c.channel_noise is not None else None
    tb, c0, c1, tab_index = as_tables(list(c.stims.reshape(-1)))
    index = np.broadcast_to(tab_index.reshape(c.stims.shape), c.shape).reshape(-1)
    slot = np.full(c.N, -1, dtype=np.int64)
    slot[c.rec_idx] = np.arange(c.rec_idx.size)
    rows = np.array([c.state_names.index(s) for s in c.rec_names], dtype=np.int64)
    return RunPlan(
        stimulus=stimulus, method=c.spec, channel=channel,
        noise=_noise_term(c.noisy, c.seed, c.trial, c.k_first, c.shape, c.N),
        seed=c.seed, trial=c.trial,
        adaptive=AdaptiveTerm(c.rtol, c.atol, c.max_steps) if c.adaptive else None,
        backend=c.backend, shape=c.shape, n=c.N, values=_broadcast(c.values, c.shape),
        armed=None if c.armed is None else np.broadcast_to(c.armed, c.shape),
        t_start=c.t_start, dt=c.dt, t_end=c.t_end, n_steps=c.n_steps, window=(c.w0, c.w1),
        max_spikes=c.max_spikes, dtype=c.dtype, num_threads=c.num_threads,
        state=c.state_names,
        recording=Recording(c.rec_names, rows, c.rec_idx, slot, c.record_every, c.n_samples),
        tables=Tables(tb, c0, c1, index),
        features=c.features, feature_windows=c.feature_windows,
        feature_several=c.feature_several,
    )


def _broadcast(values: Mapping[str, np.ndarray], shape) -> Mapping[str, np.ndarray]:
    return MappingProxyType({k: np.broadcast_to(a, shape) for k, a in values.items()})


def _fits(shape, batch) -> bool:
    """Does an array of ``shape`` broadcast to the batch shape without enlarging it?"""
    try:
        return np.broadcast_shapes(shape, batch) == batch
    except ValueError:
        return False


def _noise_term(noisy: bool, seed: int, trial, k_first: int, shape, n: int):
    """The noise term of a run (None when deterministic): its key and flat trial ids (default
    each neuron's flat index)."""
    if not noisy:
        return None
    key = key_from_seed(seed).astype(np.uint64)
    flat = (np.arange(n, dtype=np.uint64) if trial is None
            else np.broadcast_to(trial, shape).reshape(-1))
    return NoiseTerm(seed, key[0], key[1], flat, k_first)


#: what RunPlan.run takes besides the per-neuron values
_RUN_EXTRA = ("trial", "spike_armed")


def _with_values(p: RunPlan, given: dict) -> RunPlan:
    """``p`` with the per-neuron values ``given`` (RunPlan.run's rules), checked."""
    from ..noise import check_trial, first_step, is_noisy

    names = C.PER_NEURON if p.channel is not None else tuple(
        k for k in C.PER_NEURON if k not in C.CHANNEL_VALUES)
    unknown = sorted(set(given) - set(names) - set(_RUN_EXTRA), key=str)
    if unknown:
        raise InputTypeError(
            f"RunPlan.run() got unexpected keyword argument(s) {unknown}; it takes the "
            f"per-neuron values {list(names)} and {list(_RUN_EXTRA)}")
    new = {}
    for name, v in given.items():
        if name == "trial":
            arr = check_trial(v)
        elif name == "spike_armed":
            arr = C.armed_values(v)
        elif name in C.CHANNEL_VALUES:
            arr = C.channel_values({name: v}, p.channel.name)[name]
        else:
            arr = C.per_neuron_array(name, v)
        if arr is not None and not _fits(arr.shape, p.shape):
            raise InputValueError(
                f"{name} has shape {arr.shape}, which does not broadcast to the plan's batch "
                f"shape {p.shape}: a plan's outputs, recordings and stimuli are laid out for "
                f"its batch; make a new plan (hh.plan) for another shape")
        new[name] = arr
    values = {**p.values, **{k: a for k, a in new.items() if k not in _RUN_EXTRA}}
    C.value_ranges(values, p.dtype, [k for k in new if k in C.PER_NEURON
                                     and k not in C.CHANNEL_VALUES])
    noisy = is_noisy(values) or p.channel is not None
    C.method_values(p.method, values, noisy)
    armed = new["spike_armed"] if "spike_armed" in new else p.armed
    C.value_consistency(values, armed, p.channel is not None, p.dtype, new)
    changes: dict[str, Any] = {"values": _broadcast(values, p.shape)}
    if "spike_armed" in new:
        changes["armed"] = None if armed is None else np.broadcast_to(armed, p.shape)
    if "trial" in new:
        changes["trial"] = new["trial"]
    if noisy != (p.noise is not None) or "trial" in new:
        k_first = first_step(p.t_start, p.dt, p.n_steps) if noisy else 0
        changes["noise"] = _noise_term(noisy, p.seed, changes.get("trial", p.trial), k_first,
                                       p.shape, p.n)
    return dataclasses.replace(p, **changes)
