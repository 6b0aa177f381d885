"""Errors of a fixed-step result against a reference from :func:`hhfast.reference.solve`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _checks as C
from .. import config
from ..errors import InputTypeError, InputValueError
from ..model import FIELDS
from ..reference import _rounding, dense_state
from ..result import SimResult

__all__ = ["Comparison", "compare"]


@dataclass
class Comparison:
    """Errors of a fixed-step result against a reference, per compared neuron.

    Attributes
    ----------
    neurons : ndarray of int
        Flat indices (into the result's batch) of the compared neurons; entry ``j`` of every
        array below is neuron ``neurons[j]``, compared with reference neuron ``j``.
    max_dV : ndarray
        max |V - V_ref| (mV) over the result's recorded samples in the compared span (inside
        ``t_range`` if given); NaN for a neuron whose V was not recorded.
    spike_error : ndarray
        max |t - t_ref| (ms) over the spikes paired in order; 0 when neither fired, and
        ``inf`` when the spike counts differ — a count mismatch is never averaged into a time
        error (see ``missing`` / ``extra``).
    spike_errors : list of ndarray
        Signed errors ``t - t_ref`` (ms) of the stored spikes paired in order (the first
        ``min(count, count_ref, max_spikes)``), for every neuron, even where counts differ.
    count, count_ref : ndarray of int
        Spike counts of the result and of the reference in the compared span.
    missing, extra : ndarray of int
        Reference spikes the result lacks / result spikes the reference lacks (by count).
    diverged : ndarray of bool
        Neurons whose fixed-step state stopped being finite.
    t_end : float
        End (ms) of the compared span ``[t_start, t_end]``: the earlier of the two runs' ends.
    """

    neurons: np.ndarray
    max_dV: np.ndarray
    spike_error: np.ndarray
    spike_errors: list
    count: np.ndarray
    count_ref: np.ndarray
    diverged: np.ndarray
    t_end: float = math.nan
    missing: np.ndarray = field(init=False)
    extra: np.ndarray = field(init=False)

    def __post_init__(self):
        self.missing = np.maximum(self.count_ref - self.count, 0)
        self.extra = np.maximum(self.count - self.count_ref, 0)

    @property
    def count_match(self) -> np.ndarray:
        """Per neuron: same spike count as the reference and no divergence."""
        return (self.count == self.count_ref) & ~self.diverged

    @property
    def worst_dV(self) -> float:
        """Largest max |ΔV| (mV) over the compared neurons (NaN if V was not recorded)."""
        return float(np.max(self.max_dV)) if self.max_dV.size else math.nan

    @property
    def worst_spike_error(self) -> float:
        """Largest spike-time error (ms) over the compared neurons; ``inf`` if any neuron's
        spike count differs from the reference's or it diverged."""
        if not self.count_match.all():
            return math.inf
        return float(np.max(self.spike_error)) if self.spike_error.size else 0.0

    def summary(self) -> dict:
        """The batch in four numbers: worst |ΔV| (mV), worst spike-time error (ms), neurons
        with a spike-count mismatch, diverged neurons."""
        return {
            "max_dV": self.worst_dV,
            "spike_error": self.worst_spike_error,
            "count_mismatch": int((~self.count_match).sum()),
            "diverged": int(self.diverged.sum()),
        }


def _counts_before(res: SimResult, idx: np.ndarray, t_end: float, name: str) -> np.ndarray:
    """Spikes of neurons ``idx`` of ``res`` before ``t_end`` (ms), from the stored times."""
    total = res.spike_count.reshape(-1)[idx]
    stored = res.spike_times.array[idx]
    with np.errstate(invalid="ignore"):
        n = np.sum(stored < t_end, axis=1)
    full = stored.shape[1]
    # the stored times decide only when they reach t_end or hold every spike
    unknown = (total > full) & ~(stored[:, full - 1] >= t_end) if full else total > 0
    if unknown.any():
        j = int(idx[np.flatnonzero(unknown)[0]])
        raise InputValueError(
            f"the {name} runs past the other one's end ({t_end} ms) and neuron {j} fired more "
            f"than its max_spikes={full} stored spikes, so its count before {t_end} ms is not "
            f"known; run both to the same end or raise max_spikes"
        )
    return n.astype(np.int64)


def _values(res: SimResult, name: str) -> np.ndarray | None:
    """A per-neuron value of a run, flat (the defaults of the threshold and the re-arm margin
    filled in); None if unknown."""
    p = res.params
    if name == "threshold" and name not in p and "V_rest" in p:
        return np.broadcast_to(p["V_rest"], res.shape).reshape(-1) + \
            config.SPIKE_THRESHOLD_ABOVE_REST
    if name == "spike_rearm" and name not in p:
        return np.full(res.size, config.SPIKE_REARM_MV)
    if name not in p:
        return None
    return np.broadcast_to(np.asarray(p[name], dtype=float), res.shape).reshape(-1)


def _same_neurons(result: SimResult, reference: SimResult, idx: np.ndarray) -> None:
    """Raise ValueError if a compared pair of neurons differs in a model field, amplitude,
    bias, threshold or re-arm margin (initial values may differ: a continued run starts from its
    own state)."""
    for name in (*FIELDS, "amplitude", "bias", "threshold", "spike_rearm"):
        a, b = _values(result, name), _values(reference, name)
        if a is None or b is None:
            continue
        a = a[idx]
        bad = ~np.isclose(a, b, rtol=1e-12, atol=1e-12)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InputValueError(
                f"result neuron {int(idx[j])} has {name}={float(a[j])!r} but reference neuron {j} has "
                f"{name}={float(b[j])!r}: the reference must solve the compared neurons, in order "
                f"(neurons=[their flat indices])"
            )


def _t_range(t_range, t_start: float, t_end: float) -> tuple[float, float] | None:
    if t_range is None:
        return None
    try:
        r0, r1 = t_range
    except (TypeError, ValueError):
        raise InputTypeError(f"t_range must be a pair (t0, t1) in ms, got {t_range!r}") from None
    r0, r1 = C.real("t_range[0]", r0), C.real("t_range[1]", r1, allow_inf=True)
    if not r1 >= r0:
        raise InputValueError(f"t_range must have t1 >= t0, got {t_range!r}")
    if r0 > t_end + _rounding(t_end) or r1 < t_start - _rounding(t_start):
        raise InputValueError(
            f"t_range {t_range!r} ms lies outside the compared span [{t_start}, {t_end}] ms"
        )
    return r0, r1


def compare(
    result: SimResult,
    reference: SimResult,
    neurons=None,
    t_range: tuple[float, float] | None = None,
) -> Comparison:
    """Compare a fixed-step result with a reference from :func:`hhfast.reference.solve`.

    The two are compared on the span both cover, ``[t_start, t_end]`` with ``t_end`` the
    earlier of their ends (``Comparison.t_end``): the result's own sample times in it (the
    reference's dense output is evaluated exactly there; a sample within float rounding of
    the end counts as the end), and the spikes before ``t_end`` on each side.  A fixed-step run
    ends on its grid (at or just after its ``t_stop``), so a reference solved to the same
    ``t_stop`` is compared over ``[t_start, t_stop]``.

    Parameters
    ----------
    result : SimResult
        From :func:`hhfast.simulate`.  For ``max_dV`` its V must be recorded for the compared
        neurons.
    reference : SimResult
        From :func:`hhfast.reference.solve`, for the same neurons, stimulus, parameters and
        start time (model fields, ``amplitude``, ``bias`` and ``threshold`` are checked
        neuron by neuron; the stimulus and the initial values are not).
    neurons : array of int, optional
        Flat indices into ``result`` of the neurons the reference solved, in the reference's
        order (default: all, and the two batches must have the same size); negative indices
        count from the end.  This is how a large batch is checked on a subset.
    t_range : (float, float), optional
        Only samples with ``t0 <= t <= t1`` (ms) count towards ``max_dV`` (e.g. a smooth
        stretch); it must overlap the compared span.

    Returns
    -------
    Comparison

    Raises
    ------
    TypeError, ValueError
        If an argument is of the wrong kind, the batches, their per-neuron values or start
        times do not match, or an index or ``t_range`` is out of range.
    """
    dense = reference.info.get("dense") if isinstance(reference, SimResult) else None
    if dense is None:
        raise InputTypeError(
            f"reference must be a SimResult from hhfast.reference.solve (dense output), got "
            f"{type(reference).__name__}"
        )
    if not isinstance(result, SimResult):
        raise InputTypeError(f"result must be a SimResult, got {type(result).__name__}")
    if neurons is None:
        idx = np.arange(result.size)
    else:
        idx = np.asarray(neurons)
        if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
            raise InputTypeError(f"neurons must be integer (flat) indices, got {neurons!r}")
        idx = idx.reshape(-1).astype(np.int64)
        if idx.size and (idx.min() < -result.size or idx.max() >= result.size):
            raise InputValueError(f"neurons: index out of range for {result.size} neurons: {neurons!r}")
        idx = idx % max(result.size, 1)
    if idx.size != reference.size:
        raise InputValueError(
            f"the reference has {reference.size} neurons but {idx.size} result neurons are "
            "compared; pass neurons=[flat indices of the reference's neurons]"
        )
    _same_neurons(result, reference, idx)
    t0 = result.t_start
    if abs(t0 - reference.t_start) > _rounding(t0):
        raise InputValueError(
            f"result starts at {t0} ms but the reference at {reference.t_start} ms"
        )
    # the compared span: both runs cover [t0, t_end]
    t_end = min(result.t_stop, reference.t_stop)
    same_end = abs(result.t_stop - reference.t_stop) <= _rounding(t_end)
    if same_end:
        count = result.spike_count.reshape(-1)[idx]
        count_ref = reference.spike_count.reshape(-1)
    else:
        count = (_counts_before(result, idx, t_end, "result")
                 if result.t_stop > t_end else result.spike_count.reshape(-1)[idx])
        count_ref = (_counts_before(reference, np.arange(reference.size), t_end, "reference")
                     if reference.t_stop > t_end else reference.spike_count.reshape(-1))
    rng = _t_range(t_range, t0, t_end)
    t = result.t
    keep = t <= t_end + _rounding(t_end)
    if rng is not None:
        keep &= (t >= rng[0]) & (t <= rng[1])
    row_of = {int(r): j for j, r in enumerate(result.recorded)}
    max_dV = np.full(idx.size, np.nan)
    err = np.zeros(idx.size)
    errors = []
    for j, i in enumerate(idx):
        if "V" in result.traces and int(i) in row_of and keep.any():
            v_ref = dense_state(dense[j], np.minimum(t[keep], reference.t_stop))[0]
            max_dV[j] = np.max(np.abs(result.traces["V"][row_of[int(i)]][keep] - v_ref))
        a, b = result.spike_times[int(i)], reference.spike_times[j]
        k = min(a.size, b.size, count[j], count_ref[j])
        d = a[:k] - b[:k]
        errors.append(d)
        if count[j] != count_ref[j]:
            err[j] = math.inf
        elif k:
            err[j] = np.max(np.abs(d))
    return Comparison(
        neurons=idx,
        max_dV=max_dV,
        spike_error=err,
        spike_errors=errors,
        count=count,
        count_ref=count_ref,
        diverged=result.diverged.reshape(-1)[idx],
        t_end=float(t_end),
    )
