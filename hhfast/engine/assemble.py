"""``assemble``: kernel outputs -> :class:`~hhfast.result.SimResult` (docs/architecture.md §4).

:func:`result` is the one place a ``SimResult`` is built from the layout's counter and output
rows (``ic``, ``fo``, ``spikes``): :func:`assemble` (a run of the engine), the scipy reference
and the Markov reference all end in it, so the spike, window, divergence and detector fields
and the truncation warning mean the same in each.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from ..errors import StepLimitWarning, TruncationWarning
from ..kernels import layout as L
from ..result import SimResult, SpikeTimes


def result(ic: np.ndarray, fo: np.ndarray, spikes: np.ndarray, shape: tuple[int, ...], *,
           spike_armed: bool = True, **fields) -> SimResult:
    """A ``SimResult`` from a run's layout rows.

    Parameters
    ----------
    ic : ndarray, shape (NI, N)
        Counters, rows ``layout.I_*`` (``I_DIVSTEP`` -1 where a neuron never blew up).
    fo : ndarray, shape (NF, N)
        Outputs, rows ``layout.F_*`` (ms; NaN where none).
    spikes : ndarray, shape (N, max_spikes)
        The first spike times (ms).  More spikes counted than stored raise one
        :class:`~hhfast.errors.TruncationWarning`, pointing at the caller's code.
    shape : tuple of int
        The batch shape.
    spike_armed : bool
        Report the detector's final state (row ``I_ARMED``); False: ``SimResult.spike_armed``
        is None (the Markov reference).
    **fields
        Every other field of :class:`~hhfast.result.SimResult`, as it is.
    """
    count = ic[L.I_COUNT]
    if spikes.shape[1] > 0:
        warn_truncated(count, spikes.shape[1])
    return SimResult(
        spike_count=count.reshape(shape),
        spike_times=SpikeTimes(spikes, count, shape),
        first_spike=fo[L.F_FIRST].reshape(shape),
        diverged=(ic[L.I_DIVSTEP] >= 0).reshape(shape),
        diverged_time=fo[L.F_DIVT].reshape(shape),
        window_count=ic[L.I_WCOUNT].reshape(shape),
        window_first=fo[L.F_WFIRST].reshape(shape),
        window_last=fo[L.F_WLAST].reshape(shape),
        window_isi_sumsq=fo[L.F_WISI2].reshape(shape),
        spike_armed=(ic[L.I_ARMED] != 0).reshape(shape) if spike_armed else None,
        **fields,
    )


def assemble(p, out) -> SimResult:
    """The ``SimResult`` of a run of plan ``p`` (:class:`~.plan.RunPlan`) whose kernels left
    ``out`` (:class:`~.launch.Outputs`)."""
    shape, r = p.shape, p.recording
    t = p.t_start + p.dt * (r.every * np.arange(r.n_samples))  # t0 + k*dt, as the kernel
    extra, n_steps = {}, p.n_steps
    if p.adaptive is not None:
        t = np.minimum(t, p.t_end)
        extra, n_steps = _adaptive(p, out)
    if p.channel is not None:
        extra["info"] = _channel_info(p.channel, out.X, shape)
    if p.features:
        extra["features"] = _features(p, out)
    return result(
        out.ic, out.fo, out.spikes, shape,
        t=t,
        traces={name: out.rec[k].T for k, name in enumerate(r.names)},
        recorded=r.neurons,
        final_state={s: out.y[v].reshape(shape) for v, s in enumerate(p.state)},
        window=(p.window[0], min(p.window[1], p.t_end)),
        params=dict(p.values),
        method=p.method.name,
        dt=p.dt,
        t_start=p.t_start,
        t_stop=p.t_end,
        n_steps=n_steps,
        stimulus=p.stimulus,
        noise_current=None if out.ou is None else out.ou.reshape(shape),
        channel_noise=None if p.channel is None else p.channel.name,
        **extra,
    )


def _adaptive(p, out) -> tuple[dict, int]:
    """The step statistics of an adaptive run (``SimResult`` fields) and its most accepted
    steps; splits the kernel's freeze time (row ``F_DIVT``, both kinds of freeze) into a
    step-limit stop and a blow-up, and warns about neurons the step limit stopped."""
    stats, fo, shape = out.stats, out.fo, p.shape
    limited = stats[L.S_LIMITED] != 0
    stop_time = np.where(limited, fo[L.F_DIVT], np.nan)
    fo[L.F_DIVT] = np.where(limited, np.nan, fo[L.F_DIVT])
    if limited.any():
        warn_step_limited(stop_time[limited], limited.size, p.adaptive.max_steps, p.t_end)
    a = p.adaptive
    return dict(steps_accepted=stats[L.S_ACCEPTED].reshape(shape),
                steps_rejected=stats[L.S_REJECTED].reshape(shape),
                step_limited=limited.reshape(shape), stop_time=stop_time.reshape(shape),
                rtol=a.rtol, atol=a.atol), int(stats[L.S_ACCEPTED].max())


def _features(p, out) -> dict:
    """``SimResult.features``: name -> float64 array of the batch shape (a trailing window
    axis when several windows were given); NaN for a neuron that diverged (its trace after
    the blow-up is not a trace)."""
    from ..features import from_accumulators

    dead = out.ic[L.I_DIVSTEP] >= 0
    res = {}
    for name, v in from_accumulators(out.A, p.feature_windows, p.features).items():
        v = np.where(dead[None, :], np.nan, v).T  # [N, NW]
        res[name] = v.reshape(p.shape + (v.shape[1],)) if p.feature_several else \
            v[:, 0].reshape(p.shape)
    return res


def _channel_info(channel, X: np.ndarray, shape) -> dict:
    """``SimResult.info`` of a channel-noise run: the final occupancies (fractions; K states
    ``n0..n4`` and Na states ``m_i h_j`` at ``i + 4 j``, as ``hhfast.reference.markov``) or,
    for a model on gates, the final gates."""
    if channel.state == "gates":
        return {g: X[k].reshape(shape) for k, g in enumerate("nmh")}
    return {"K_states": X[:5].T.reshape(shape + (5,)),
            "Na_states": X[5:].T.reshape(shape + (8,))}


# -- warnings, pointing at the caller's code --------------------------------------------------------
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the innermost frame outside the hhfast package, counted from the
    function calling :func:`warnings.warn` (the frame below this one): a warning points at the
    user's line, however deep in hhfast it was raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level if frame is not None else 2  # called from hhfast alone: its caller


def warn_truncated(count: np.ndarray, max_spikes: int) -> None:
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
            stacklevel=_caller_stacklevel(),
        )


def warn_step_limited(stops: np.ndarray, n: int, max_steps: int, t_end: float) -> None:
    """Warn once per call that the ``max_steps`` guard stopped neurons before ``t_end``."""
    warnings.warn(
        f"{stops.size} of {n} neurons were stopped by max_steps={max_steps} step attempts before "
        f"t_stop={t_end} ms (earliest at t={float(stops.min()):.6g} ms): their state is frozen "
        f"there (SimResult.step_limited, SimResult.stop_time), their rates and window "
        f"statistics cover only the time computed, and continuation() refuses the run; raise "
        f"max_steps or loosen rtol/atol",
        StepLimitWarning,
        stacklevel=_caller_stacklevel(),
    )

