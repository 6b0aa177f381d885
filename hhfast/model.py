"""The Hodgkin–Huxley model: parameters, rate functions and steady states.

Units: mV, ms, mS/cm², µA/cm², µF/cm², °C.  The rate functions are those of Hodgkin & Huxley
(1952), written in the variable ``u = V - V_rest`` (depolarisation from rest, the 1952
convention).  ``HHParams.classic()`` measures V from rest (``V_rest = 0``); ``modern()`` is the
same model shifted so rest is -65 mV.  All α and β are multiplied by
``φ = 3 ** ((temperature - 6.3) / 10)``.

The scalar functions here are plain Python/NumPy and are used by the reference solver, the
analysis layer and the tests; the kernels have their own Numba versions of the same formulas
in :mod:`hhfast.kernels.hh` (tested against these in ``tests/test_kernel_rates.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from math import comb

import numpy as np

from . import config
from .errors import InputTypeError, InputValueError

#: Names of the model fields, in the order the kernels store them.
FIELDS = ("gNa", "gK", "gL", "ENa", "EK", "EL", "Cm", "V_rest", "temperature")
#: Names of the state variables.
STATE = ("V", "n", "m", "h")


@dataclass(frozen=True)
class HHParams:
    """Parameters of the Hodgkin–Huxley membrane.

    Parameters
    ----------
    gNa, gK, gL : float
        Maximal sodium, potassium and leak conductances (mS/cm²).
    ENa, EK, EL : float
        Reversal potentials (mV), in the same voltage convention as ``V_rest``.
    Cm : float
        Membrane capacitance (µF/cm²).
    V_rest : float
        Resting potential (mV) of the convention: 0 for the 1952 convention, -65 for the modern
        one.  The rate functions see ``V - V_rest``.
    temperature : float
        Temperature (°C); every rate is scaled by ``3 ** ((temperature - 6.3) / 10)``.

    Each field may also be given per neuron to :func:`hhfast.simulate` as an array.
    """

    gNa: float = 120.0
    gK: float = 36.0
    gL: float = 0.3
    ENa: float = 115.0
    EK: float = -12.0
    EL: float = 10.613
    Cm: float = 1.0
    V_rest: float = 0.0
    temperature: float = 6.3

    @classmethod
    def classic(cls, **changes: float) -> HHParams:
        """The 1952 convention of the gist: V measured from rest (rest = 0 mV)."""
        return dataclasses.replace(cls(), **changes)

    @classmethod
    def modern(cls, **changes: float) -> HHParams:
        """The classic model shifted so that rest is -65 mV (ENa=50, EK=-77, EL=-54.387)."""
        shift = -65.0
        base = cls(ENa=115.0 + shift, EK=-12.0 + shift, EL=10.613 + shift, V_rest=shift)
        return dataclasses.replace(base, **changes)

    @classmethod
    def from_spec(cls, table, key: str = "params") -> HHParams:
        """The parameters of a spec's ``[params]`` table (sweep and fit specs): ``preset``
        (``"classic"``, the default, or ``"modern"``) and model fields (numbers) that change
        it.  A bad entry raises :class:`~hhfast.errors.InputValueError` naming it as
        ``'<key>.<name>'``."""
        p = dict(table)
        preset = p.pop("preset", "classic")
        if preset not in ("classic", "modern"):
            raise InputValueError(f"key '{key}.preset' must be 'classic' or 'modern', "
                                  f"got {preset!r}")
        for k, v in p.items():
            if k not in FIELDS:
                raise InputValueError(f"key '{key}.{k}' is not a model field {FIELDS}")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise InputValueError(f"key '{key}.{k}' must be a number, got {v!r}")
        return getattr(cls, preset)(**{k: float(v) for k, v in p.items()})

    def replace(self, **changes: float) -> HHParams:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (for attributes of stored results)."""
        return dataclasses.asdict(self)

    @property
    def phi(self) -> float:
        """Temperature factor φ = 3^((T - 6.3)/10) applied to every rate."""
        return temperature_factor(self.temperature)

    @property
    def default_threshold(self) -> float:
        """Default spike threshold (mV): ``V_rest + config.SPIKE_THRESHOLD_ABOVE_REST``."""
        return self.V_rest + config.SPIKE_THRESHOLD_ABOVE_REST


def temperature_factor(temperature):
    """φ = 3^((T − 6.3)/10) for a temperature in °C (scalar or array)."""
    return 3.0 ** ((np.asarray(temperature, dtype=float) - 6.3) / 10.0)


def _x_over_expm1(z):
    """z / (exp(z) - 1), exact at the removable singularity z = 0 (returns 1)."""
    z = np.asarray(z, dtype=float)
    small = np.abs(z) < config.SERIES_CUTOFF
    safe = np.where(small, 1.0, z)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        direct = safe / np.expm1(safe)
    series = 1.0 - z / 2.0 + z * z / 12.0 - z**4 / 720.0
    return np.where(small, series, direct)


def rates(V, p: HHParams = None):
    """α and β of the three gates (1/ms) at membrane potential ``V`` (mV).

    Returns ``(an, bn, am, bm, ah, bh)``.  At the removable singularities
    (``V - V_rest = 10`` for α_n, ``25`` for α_m) the limits 0.1 and 1.0 (times φ) are
    returned, not NaN.
    """
    p = HHParams() if p is None else p
    u = np.asarray(V, dtype=float) - p.V_rest
    phi = p.phi
    # α_n = 0.01 (10 - u) / (exp((10 - u)/10) - 1) = 0.1 · z/(e^z - 1), z = (10 - u)/10
    an = 0.1 * _x_over_expm1((10.0 - u) / 10.0)
    bn = 0.125 * np.exp(-u / 80.0)
    am = 1.0 * _x_over_expm1((25.0 - u) / 10.0)
    bm = 4.0 * np.exp(-u / 18.0)
    ah = 0.07 * np.exp(-u / 20.0)
    bh = 1.0 / (np.exp((30.0 - u) / 10.0) + 1.0)
    return tuple(phi * r for r in (an, bn, am, bm, ah, bh))


def steady_state(V, p: HHParams = None):
    """Steady-state gate values ``(n_inf, m_inf, h_inf)`` at ``V`` (mV)."""
    an, bn, am, bm, ah, bh = rates(V, p)
    return an / (an + bn), am / (am + bm), ah / (ah + bh)


def time_constants(V, p: HHParams = None):
    """Gate time constants ``(tau_n, tau_m, tau_h)`` in ms at ``V`` (mV)."""
    an, bn, am, bm, ah, bh = rates(V, p)
    return 1.0 / (an + bn), 1.0 / (am + bm), 1.0 / (ah + bh)


def resting_state(p: HHParams = None):
    """The gist's initial state: ``(V_rest, n_inf, m_inf, h_inf)`` at ``V = V_rest``.

    (With the classic EL = 10.613 mV, dV/dt there is 0.004 mV/ms: the true equilibrium, from
    :func:`equilibrium`, lies within 0.01 mV of it.)
    """
    p = HHParams() if p is None else p
    n, m, h = steady_state(p.V_rest, p)
    return float(p.V_rest), float(n), float(m), float(h)


def derivatives(t, y, current, p: HHParams = None):
    """Right-hand side of the HH system for one neuron.

    Parameters
    ----------
    t : float
        Time (ms); unused, kept for the ``f(t, y)`` convention.
    y : array_like, shape (4,) or (4, k)
        State ``(V, n, m, h)``: V in mV, gates dimensionless.
    current : float
        Injected current density (µA/cm²).
    p : HHParams

    Returns
    -------
    ndarray
        ``(dV/dt, dn/dt, dm/dt, dh/dt)`` in mV/ms and 1/ms.
    """
    p = HHParams() if p is None else p
    V, n, m, h = y
    an, bn, am, bm, ah, bh = rates(V, p)
    i_ion = (
        p.gNa * m**3 * h * (V - p.ENa) + p.gK * n**4 * (V - p.EK) + p.gL * (V - p.EL)
    )
    return np.array(
        [
            (current - i_ion) / p.Cm,
            an * (1.0 - n) - bn * n,
            am * (1.0 - m) - bm * m,
            ah * (1.0 - h) - bh * h,
        ]
    )


def jacobian(y, p: HHParams = None, eps: float = 1e-6):
    """Jacobian of the HH right-hand side at state ``y`` (4×4), by central differences in V
    and exactly in the gates (the RHS is linear in each gate's own value times polynomials in
    the others, so a central difference with ``eps`` = 1e-6 is accurate to ~1e-10).
    """
    y = np.asarray(y, dtype=float)
    J = np.empty((4, 4))
    for j in range(4):
        d = np.zeros(4)
        d[j] = eps
        J[:, j] = (derivatives(0.0, y + d, 0.0, p) - derivatives(0.0, y - d, 0.0, p)) / (2 * eps)
    return J


def equilibrium(current, p: HHParams = None, tol: float = 1e-12):
    """Equilibrium state ``(V, n, m, h)`` of a neuron held at a constant ``current`` (µA/cm²).

    Solves ``I = I_ion(V, n_inf(V), m_inf(V), h_inf(V))`` for V by bracketing Brent's method
    (the steady-state I–V curve of classic HH is monotonic, so the root is unique).
    """
    from scipy.optimize import brentq

    p = HHParams() if p is None else p

    def f(V):
        n, m, h = steady_state(V, p)
        return current - (
            p.gNa * m**3 * h * (V - p.ENa) + p.gK * n**4 * (V - p.EK) + p.gL * (V - p.EL)
        )

    lo, hi = p.V_rest - 100.0, p.V_rest + 200.0
    if f(lo) * f(hi) > 0:
        raise InputValueError(f"current={current!r}: no equilibrium between {lo} and {hi} mV")
    V = brentq(f, lo, hi, xtol=tol, rtol=4 * np.finfo(float).eps, maxiter=200)
    n, m, h = steady_state(V, p)
    return float(V), float(n), float(m), float(h)


def check_params(p: HHParams) -> None:
    """Raise ``ValueError`` naming the field if a parameter is non-finite or out of range."""
    for name in FIELDS:
        v = getattr(p, name)
        if not isinstance(v, (int, float, np.floating, np.integer)) or isinstance(v, bool):
            raise InputTypeError(f"HHParams.{name} must be a real number, got {v!r}")
        if not math.isfinite(v):
            raise InputValueError(f"HHParams.{name} must be finite, got {v!r}")
    for name in ("gNa", "gK", "gL"):
        if getattr(p, name) < 0:
            raise InputValueError(
                f"HHParams.{name} is a conductance and must be >= 0, got {getattr(p, name)!r}"
            )
    if p.Cm <= 0:
        raise InputValueError(f"HHParams.Cm must be > 0, got {p.Cm!r}")


def occupancy(n, m, h) -> tuple[np.ndarray, np.ndarray]:
    """Binomial occupancy probabilities of one channel's states when its subunits are
    independent with open probabilities n, m, h: K states ``n0..n4`` (``n_i``: i open
    n-subunits; shape ``(..., 5)``) and Na states ``m_i h_j`` at index ``i + 4 j`` (shape
    ``(..., 8)``).  At the gates' steady state it is the stationary distribution of the
    channel's Markov chain (``hhfast.reference.markov``)."""
    n, m, h = (np.asarray(x, dtype=float)[..., None] for x in (n, m, h))
    i5, i4 = np.arange(5), np.arange(4)
    pk = np.array([comb(4, i) for i in i5]) * n**i5 * (1 - n) ** (4 - i5)
    pm = np.array([comb(3, i) for i in i4]) * m**i4 * (1 - m) ** (3 - i4)
    pna = np.concatenate([pm * (1 - h), pm * h], axis=-1)
    return pk, pna


# -- the spike detector (docs/architecture.md §3): one rule for the kernels and both references --
def rearm_level(threshold, spike_rearm):
    """The re-arm level (mV) of the spike detector: ``threshold - spike_rearm``, the margin
    defaulting to ``config.SPIKE_REARM_MV`` (None).  One rule for the kernels and both
    references (docs/architecture.md §3)."""
    margin = config.SPIKE_REARM_MV if spike_rearm is None else spike_rearm
    return np.asarray(threshold, dtype=float) - margin


def initial_armed(spike_armed, V0, threshold):
    """The spike detector's state at ``t_start``, one rule for the kernels and the scipy
    reference (docs/architecture.md §3): ``spike_armed`` where given, else armed where V0 is
    below the threshold."""
    return np.asarray(V0) < threshold if spike_armed is None else spike_armed
