"""Current noise for :func:`hhfast.simulate`: checks and the per-neuron coefficients the noisy
kernels read (the kernels themselves: :mod:`hhfast.kernels.terms.noise`).

Per-neuron values (arrays broadcast like every other per-neuron value, and sweep axes):

* ``noise_sigma`` — white noise (``noise_tau = 0``): ``Cm dV = (...) dt + noise_sigma dW``,
  in µA/cm²·ms^½; OU noise (``noise_tau > 0``): the stationary standard deviation of the
  noise current, µA/cm².  Default 0 (no noise).
* ``noise_tau`` — correlation time of the OU current (ms); 0 (default) is white noise.
* ``noise_I0`` — the OU current at ``t_start`` (µA/cm²); default a draw from its stationary
  distribution N(0, noise_sigma²) (normal 0 of counter ``(trial, first step, stream 1)``).
  :meth:`SimResult.continuation` carries it.

Per call: ``seed`` (an integer in [0, 2^64), default 0: the same call always gives the same
numbers) and ``trial`` (per-neuron integers in [0, 2^64), default the neuron's flat index in
the batch), which select the random stream of each neuron.
"""

from __future__ import annotations

import math

import numpy as np

from . import config
from .errors import InputValueError
from .random import _int_array, key_from_seed, normals

#: per-neuron keywords of the noise (checked and broadcast like the model fields)
NOISE_VALUES = ("noise_sigma", "noise_tau", "noise_I0")
#: the step index of a noisy run must stay below this (32-bit counter word)
MAX_STEPS = 2**32


def check_values(values: dict[str, np.ndarray]) -> None:
    """Range checks of the noise values present in ``values`` (arrays already finite); a
    non-zero ``noise_I0`` where ``noise_tau`` is 0 (white noise) is refused, not ignored."""
    for name in ("noise_sigma", "noise_tau"):
        if name in values and (values[name] < 0).any():
            bad = values[name].reshape(-1)
            j = np.flatnonzero(bad < 0)[0]
            unit = "µA/cm²·ms^½ or µA/cm²" if name == "noise_sigma" else "ms"
            raise InputValueError(f"{name} must be >= 0 ({unit}), got {float(bad[j])!r}")
    if "noise_I0" in values:  # the OU current's start: meaningless for white noise
        i0, tau = np.broadcast_arrays(values["noise_I0"], values.get("noise_tau", np.zeros(())))
        bad = (i0 != 0) & (tau == 0)
        if bad.any():
            j = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
            raise InputValueError(
                f"noise_I0 = {float(i0[j])!r} µA/cm² is the start of an OU noise current and "
                f"needs noise_tau > 0 ms (OU noise), got noise_tau = {float(tau[j])!r} (white "
                f"noise has no current to start): give noise_tau, or noise_I0 = 0")


def is_noisy(values: dict[str, np.ndarray]) -> bool:
    """Does any neuron of the call get noise (a non-zero sigma or initial OU current)?"""
    return bool(("noise_sigma" in values and (values["noise_sigma"] != 0).any())
                or ("noise_I0" in values and (values["noise_I0"] != 0).any()))


def check_seed(seed) -> int:
    """The seed as an int in [0, 2^64) (InputTypeError / InputValueError naming ``seed``
    otherwise)."""
    key_from_seed(seed)  # raises with the argument's name
    return int(seed)


def check_trial(trial) -> np.ndarray | None:
    """``trial`` as a uint64 array (None stays None: the default, flat indices)."""
    if trial is None:
        return None
    return _int_array("trial", trial, 2**64, "2^64").astype(np.uint64)


def first_step(t_start: float, dt: float, n_steps: int) -> int:
    """Index, counted from t = 0, of a noisy run's first step: ``t_start / dt``, which must be
    a whole number >= 0 (to 1e-6 of a step), with the last step index below 2^32."""
    x = t_start / dt
    k = round(x)
    if k < 0 or abs(x - k) > 1e-6:
        raise InputValueError(
            f"t_start ({t_start!r} ms) of a noisy run must be a whole number of steps "
            f"(dt={dt!r} ms) at or after t = 0: the random numbers are indexed by the step "
            f"counted from t = 0")
    if k + n_steps > MAX_STEPS:
        raise InputValueError(
            f"a noisy run indexes its steps from t = 0 by 32 bits: steps {k} to {k + n_steps - 1} "
            f"reach 2^32 ({MAX_STEPS}); shorten t_stop or enlarge dt")
    return k


def _own_variance(x: np.ndarray) -> np.ndarray:
    """``(2x − 4·tanh(x/2)) / x²`` for x = dt/τ > 0 (x = inf gives 0): the variance of the OU
    step mean left once the end current is known, in units of σ² (docs/architecture.md §3e).
    Series below ``config.OU_SERIES_CUTOFF`` (the direct form cancels there)."""
    x = np.asarray(x, dtype=float)
    small = x < config.OU_SERIES_CUTOFF
    xs = np.where(small, x, 0.0)
    z = xs * xs
    series = xs * (1 / 6 + z * (-1 / 60 + z * (17 / 10080 + z * (-31 / 181440
                                                                 + z * (691 / 39916800)))))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        xl = np.where(small, 1.0, x)
        direct = 2.0 / xl - 4.0 * np.tanh(0.5 * xl) / (xl * xl)
    return np.where(small, series, np.maximum(direct, 0.0))


def coefficients(sigma: np.ndarray, tau: np.ndarray, inv_cm: np.ndarray, dt: float) -> np.ndarray:
    """Rows ``kernels.layout.Z_*`` of the noisy kernels' coefficients, float64.

    White noise (τ = 0): row ``Z_WHITE``, the kick σ√dt/Cm (mV).  OU current (τ > 0), with
    x = dt/τ and a = e^(−x), from one step's two normals z, z' (docs/architecture.md §3e):

    * end of step (exact): I ← a·I + σ√(1 − a²)·z — rows ``Z_DECAY`` (a), ``Z_KICK``
      (σ√(1 − a²), µA/cm²);
    * step mean (exact, jointly Gaussian with the end current), the current every stage of
      the step sees: Ī = (1 − a)/x · I + σ(1 − a)/x·√tanh(x/2) · z
      + σ√(2x − 4·tanh(x/2))/x · z' — rows ``Z_MEAN`` ((1 − a)/x), ``Z_CROSS`` and ``Z_OWN``
      (µA/cm²).
    """
    white = tau == 0
    safe_tau = np.where(white, 1.0, tau)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        x = dt / safe_tau  # inf for a subnormal tau
        a = np.exp(-dt / safe_tau)
        one_a = -np.expm1(-x)  # 1 - a without cancellation
        xf = np.where(np.isinf(x), 1.0, x)
        mean = np.where(np.isinf(x), 0.0, one_a / xf)
        cross = mean * np.sqrt(np.tanh(0.5 * x))
        kick = np.sqrt(-np.expm1(-2.0 * dt / safe_tau))
    from .kernels import layout as L

    nz = np.zeros((L.NZ_ROWS, sigma.size))
    nz[L.Z_WHITE] = np.where(white, sigma * math.sqrt(dt) * inv_cm, 0.0)
    nz[L.Z_DECAY] = np.where(white, 0.0, a)
    nz[L.Z_KICK] = np.where(white, 0.0, sigma * kick)
    nz[L.Z_MEAN] = np.where(white, 0.0, mean)
    nz[L.Z_CROSS] = np.where(white, 0.0, sigma * cross)
    nz[L.Z_OWN] = np.where(white, 0.0, sigma * np.sqrt(_own_variance(x)))
    return nz


def initial_current(sigma, tau, i0, seed: int, trial: np.ndarray, k: int) -> np.ndarray:
    """The OU current at the first step (µA/cm²): ``i0`` where given (None: a stationary draw
    σ·z, z = normal 0 of counter ``(trial, k, stream 1)``), 0 for white-noise neurons."""
    if i0 is None:
        if not np.any((tau != 0) & (sigma != 0)):  # no OU current to draw (nor to compile for)
            return np.zeros(np.shape(sigma))
        from .kernels.layout import STREAM_OU_START

        i0 = sigma * normals(seed, trial, k, STREAM_OU_START)[:, 0]
    return np.where(tau == 0, 0.0, i0)
