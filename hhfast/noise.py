"""Current noise for :func:`hhfast.simulate`: checks and the per-neuron coefficients the noisy
kernels read (the kernels themselves: :mod:`hhfast.kernels.noise`).

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


def coefficients(sigma: np.ndarray, tau: np.ndarray, inv_cm: np.ndarray, dt: float) -> np.ndarray:
    """Rows (white kick σ√dt/Cm in mV, OU decay e^(−dt/τ), OU kick σ√(1 − e^(−2dt/τ)) in
    µA/cm²) of the noisy kernels (``kernels.noise.Z_*``), float64."""
    white = tau == 0
    safe_tau = np.where(white, 1.0, tau)
    nz = np.empty((3, sigma.size))
    nz[0] = np.where(white, sigma * math.sqrt(dt) * inv_cm, 0.0)
    nz[1] = np.where(white, 0.0, np.exp(-dt / safe_tau))
    nz[2] = np.where(white, 0.0, sigma * np.sqrt(-np.expm1(-2.0 * dt / safe_tau)))
    return nz


def initial_current(sigma, tau, i0, seed: int, trial: np.ndarray, k: int) -> np.ndarray:
    """The OU current at the first step (µA/cm²): ``i0`` where given (None: a stationary draw
    σ·z, z = normal 0 of counter ``(trial, k, stream 1)``), 0 for white-noise neurons."""
    if i0 is None:
        from .kernels.noise import STREAM_OU_START

        i0 = sigma * normals(seed, trial, k, STREAM_OU_START)[:, 0]
    return np.where(tau == 0, 0.0, i0)
