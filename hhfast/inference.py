"""Simulation-based inference: hhfast as the simulator of ``sbi`` (docs/architecture.md §12).

:func:`simulator` returns a callable ``theta (n, d) -> x (n, k)``: each row of ``theta`` a
parameter set, each row of ``x`` its features under every protocol, all ``n`` rows simulated
as one batch (in chunks of ``config.INFERENCE_CHUNK``) with the features computed in the
kernel.  It takes NumPy arrays (or anything ``numpy.asarray`` takes) and answers in kind: a
PyTorch tensor in gives a float32 tensor out (what ``sbi`` trains on), without hhfast
importing PyTorch otherwise.  Undefined features (NaN: a spike feature without spikes) are
replaced by a fill value (``config.INFERENCE_FILL`` = -1 by default, or per feature), since
neural density estimators need finite inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from . import config
from .errors import InputTypeError, InputValueError
from .fitting.inputs import FITTABLE, protocols_list
from .fitting.problem import FeatureBatch


class Simulator:
    """The callable :func:`simulator` returns; ``columns`` names the output columns
    ``(protocol index, feature)``, ``names`` the parameters (the columns of theta)."""

    def __init__(self, batch: FeatureBatch, fill: dict[str, float], chunk: int):
        self.batch = batch
        self.names = list(batch.names)
        self.columns = [(k, f) for k in range(len(batch.protocols)) for f in batch.features]
        self.fill = fill
        self.chunk = chunk

    def features(self, theta) -> np.ndarray:
        """``(n, d)`` parameter sets -> ``(n, k)`` float64 features, undefined ones filled."""
        v = np.asarray(theta, dtype=float)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != len(self.names):
            raise InputValueError(f"theta must have shape (n, {len(self.names)}) (columns "
                                  f"{self.names}), got {tuple(np.shape(theta))}")
        out = np.empty((v.shape[0], len(self.columns)))
        for a in range(0, v.shape[0], self.chunk):
            f = self.batch.run(v[a:a + self.chunk])
            cols = [np.where(np.isnan(f[name][:, k]), self.fill[name], f[name][:, k])
                    for k, name in self.columns]
            out[a:a + self.chunk] = np.stack(cols, axis=1)
        return out

    def __call__(self, theta):
        x = self.features(theta)
        if type(theta).__module__.split(".")[0] == "torch":  # sbi hands tensors
            import torch

            return torch.as_tensor(x, dtype=torch.float32)
        return x

    def __repr__(self) -> str:
        return (f"Simulator(theta columns {self.names} -> {len(self.columns)} features "
                f"{[f'P{k}:{f}' for k, f in self.columns]})")


def simulator(protocol, features: Sequence[str], names: Sequence[str], *, t_stop: float,
              dt: float = 0.025, method: str | None = None, params=None, threshold=None,
              feature_window: tuple[float, float] | None = None, fill=None,
              chunk: int | None = None, **simulate_options) -> Simulator:
    """A batched simulator ``theta (n, d) -> x (n, k)`` for simulation-based inference.

    Parameters
    ----------
    protocol : Stimulus or list of Stimulus
        The stimulus protocol(s) (µA/cm²); ``k = len(protocols) * len(features)``.
    features : list of str
        eFEL feature names computed in the kernel (as ``simulate(features=...)``).
    names : list of str
        The per-neuron parameters the columns of theta hold (e.g. ``["gNa", "gK"]``).
    t_stop, dt, method, params, threshold, feature_window, **simulate_options
        As :func:`hhfast.simulate` (per-neuron values given here are held fixed).
    fill : float or dict, optional
        Value written where a feature is undefined (NaN): one for all, or ``{feature:
        value}`` (the rest default); default ``config.INFERENCE_FILL`` (-1).
    chunk : int, optional
        Parameter sets per batch (default ``config.INFERENCE_CHUNK``).

    Returns
    -------
    Simulator
        Call it with a NumPy array or a PyTorch tensor (then it returns a float32 tensor, as
        ``sbi`` wants).  Every argument was checked here (one plan made), before anything
        was compiled.
    """
    protocols = protocols_list(protocol)
    if (isinstance(features, str) or not isinstance(features, Sequence) or not features
            or not all(isinstance(f, str) for f in features)):
        raise InputTypeError(f"features must be a non-empty list of feature names, got {features!r}")
    if (isinstance(names, str) or not isinstance(names, Sequence) or not names
            or not all(isinstance(n, str) for n in names)):
        raise InputTypeError(f"names must be a non-empty list of parameter names, got {names!r}")
    for n in names:
        if n not in FITTABLE:
            raise InputValueError(f"names: unknown parameter {n!r}; per-neuron parameters are "
                                  f"{list(FITTABLE)}")
    if isinstance(fill, bool):
        raise InputTypeError(f"fill must be a number or a dict {{feature: value}}, got {fill!r}")
    if fill is None or isinstance(fill, int | float):
        fill = {f: float(config.INFERENCE_FILL if fill is None else fill) for f in features}
    elif isinstance(fill, Mapping):
        bad = sorted(set(fill) - set(features))
        if bad:
            raise InputValueError(f"fill: {bad[0]!r} is not one of the features {list(features)}")
        fill = {f: float(fill.get(f, config.INFERENCE_FILL)) for f in features}
    else:
        raise InputTypeError(f"fill must be a number or a dict {{feature: value}}, got {fill!r}")
    if not all(np.isfinite(v) for v in fill.values()):
        raise InputValueError(f"fill values must be finite, got {fill!r}")
    if chunk is None:
        chunk = config.INFERENCE_CHUNK
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise InputValueError(f"chunk must be a positive integer, got {chunk!r}")
    sim = dict(t_stop=t_stop, dt=dt, method=method, params=params, threshold=threshold,
               feature_window=feature_window, **simulate_options)
    batch = FeatureBatch(protocols, list(features), list(names), sim)
    batch.check()
    return Simulator(batch, fill, chunk)
