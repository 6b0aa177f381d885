"""Parameter fitting on batches: a whole generation of an evolutionary optimiser, under every
protocol, is one batch whose features are computed in the kernel (docs/architecture.md §12).

>>> import hhfast as hh
>>> res = hh.fit(protocols=[hh.step(10, 60)], target=[{"Spikecount": (4, 0.5)}],
...              bounds={"gNa": (80, 160)}, t_stop=70, feature_window=(10, 60),
...              max_evals=200)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from .. import config
from ..errors import InputTypeError
from ..model import HHParams
from . import inputs as I
from .optimizers import run_cma, run_de
from .problem import Problem
from .result import FitResult
from .traces import extract


def _progress(progress) -> Callable | None:
    """None, or the callable ``(generation, evaluations, best_loss)`` the user gave; the
    library prints nothing (the CLI's ``hhfast fit`` passes one that prints a line)."""
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress
    raise InputTypeError(f"progress must be None or a callable progress(generation, "
                         f"evaluations, best_loss), got {progress!r}")


def fit(protocols, target, bounds: Mapping[str, tuple[float, float]], *, t_stop: float,
        dt: float = 0.025, method: str | None = None, params: HHParams | None = None,
        threshold: float | None = None, feature_window: tuple[float, float] | None = None,
        optimizer: str = "cma", max_evals: int = 2000, seed: int = 0,
        popsize: int | None = None, loss: str = "sum", features: list[str] | None = None,
        progress: Callable | None = None, fixed: Mapping | None = None, **simulate_options) -> FitResult:
    """Fit per-neuron parameters to target features under one or more stimulus protocols.

    Each generation of the optimiser is ONE :func:`hhfast.simulate` batch of shape
    ``(population, protocols)``: the members' parameters broadcast down the rows, the
    protocols along the columns, with the target features computed inside the kernel (no
    trace stored).  The loss of a member is BluePyOpt's: per protocol and feature the z-score
    ``|f - mean| / sd``, an undefined feature (NaN, e.g. a spike time where the model did not
    spike) scoring ``config.FIT_NAN_PENALTY`` = 250 (BluePyOpt's ``max_score``); the z-scores
    of all protocols and features are summed (``loss="sum"``, the scalar BluePyOpt's
    single-objective runs minimise) or their maximum taken (``loss="max"``, the worst
    feature).

    Parameters
    ----------
    protocols : Stimulus or list of Stimulus
        The stimulus protocols (e.g. ``hh.step(t0, t1, amplitude)``; current density µA/cm²).
    target : list
        One per protocol: a dict ``{feature: (mean, sd)}`` (eFEL names and units, e.g.
        ``"Spikecount"``, ``"voltage_base"`` (mV), ``"time_to_first_spike"`` (ms)), or a
        recorded trace ``(t, V)`` (ms, mV) whose ``features`` eFEL extracts (the optional extra
        ``fit``), each with SD ``max(5 % of |value|, 1e-3)`` (config.FIT_TRACE_SD_*).
    bounds : dict
        ``{name: (lo, hi)}`` for any per-neuron value of :func:`hhfast.simulate` (``gNa, gK,
        gL`` mS/cm², ``ENa, EK, EL`` mV, ``Cm`` µF/cm², ``temperature`` °C, ...).  The
        optimisers search the unit cube these map to linearly.
    t_stop, dt, method, params, threshold, feature_window
        As :func:`hhfast.simulate` (``feature_window = (t0, t1)`` ms: the stimulus window the
        features refer to, eFEL's ``stim_start, stim_end``).  dt defaults to 0.025 ms.
    optimizer : {"cma", "de"}
        CMA-ES (the ``cma`` package, ask/tell, from a random start in the box, step size
        ``config.FIT_CMA_SIGMA0``) or scipy's ``differential_evolution(vectorized=True)``
        (deferred updating, Latin-hypercube start, no polish).
    max_evals : int
        Budget of parameter sets (each simulated under every protocol); the fit stops at the
        last whole generation within it, or earlier when the optimiser converges.
    seed : int
        Seed of the optimiser: the same call gives the same result.
    popsize : int, optional
        CMA-ES: members per generation (default ``config.FIT_CMA_POPSIZE``); DE: scipy's
        multiplier (population = popsize x parameters; default 15).
    loss : {"sum", "max"}
        How the z-scores combine.
    features : list of str, optional
        The features to extract where a target is a trace.
    progress : callable, optional
        Called as ``progress(generation, evaluations, best_loss)`` after each generation
        (``hhfast fit`` prints a line from it).
    fixed : dict, optional
        Per-neuron values held fixed (scalars), e.g. ``{"bias": 0.5}``.
    **simulate_options
        Other options of :func:`hhfast.simulate` (``num_threads``, ``dtype``, ...).

    Returns
    -------
    FitResult
        ``res.best`` the fitted values; ``res.plot()`` the loss history and the best's
        z-scores.
    """
    t_begin = time.perf_counter()
    protocols = I.protocols_list(protocols)
    targets = I.target_list(target, len(protocols), I.feature_names(features))
    bnd = I.bounds_dict(bounds)
    optimizer = I.choice("optimizer", optimizer, I.OPTIMIZERS)
    loss = I.choice("loss", loss, I.LOSSES)
    seed = I.seed_value(seed)
    names = list(bnd)
    max_evals, popsize = I.budget(max_evals, popsize, optimizer, len(names))
    show = _progress(progress)
    fixed = I.fixed_values(fixed, bnd)
    features = I.feature_names(features)
    if optimizer == "cma":
        I.need("cma", "optimizer='cma'")
    if any(isinstance(t, tuple) for t in targets):
        I.need("efel", "a target given as a recorded trace")
    sim = dict(t_stop=t_stop, dt=dt, method=method, params=params, threshold=threshold,
               feature_window=feature_window, **simulate_options, **fixed)
    # the feature names of every target (trace targets: ``features``): the plan checks them
    # with every other argument of simulate, before anything is compiled or run
    wanted = [sorted(t) if isinstance(t, dict) else sorted(features) for t in targets]
    lo = np.array([bnd[n][0] for n in names])
    hi = np.array([bnd[n][1] for n in names])
    problem = Problem(protocols, [dict.fromkeys(w, (0.0, 1.0)) for w in wanted], names, lo, hi,
                      sim, loss, show)
    pop = popsize if optimizer == "cma" else max(popsize * len(names), 5)
    problem.check(pop)
    if any(isinstance(t, tuple) for t in targets):
        thr = threshold if threshold is not None else (
            (params or HHParams.classic()).V_rest + config.SPIKE_THRESHOLD_ABOVE_REST)
        w = feature_window if feature_window is not None else (
            simulate_options.get("t_start", 0.0), t_stop)
        targets = [extract(t[0], t[1], features, w, thr, k) if isinstance(t, tuple) else t
                   for k, t in enumerate(targets)]
    problem.targets = targets
    runner = run_cma if optimizer == "cma" else run_de
    message = runner(problem, max_evals, popsize, seed)
    if problem.best_u is None:  # pragma: no cover - budget() allows two generations
        raise RuntimeError("the fit evaluated nothing")
    best = dict(zip(names, problem.values(problem.best_u[None])[0].tolist(), strict=True))
    errors = [{n: problem.best_z[(k, n)] for n in t} for k, t in enumerate(targets)]
    feats = [{n: problem.best_features[(k, n)] for n in t} for k, t in enumerate(targets)]
    return FitResult(
        best=best, loss=problem.best_loss, history=np.array(problem.history, dtype=float),
        population=problem.values(problem.last_u), population_loss=problem.last_loss,
        errors=errors, features=feats, targets=targets, names=names, bounds=bnd,
        evaluations=problem.evaluations, wall_time=time.perf_counter() - t_begin,
        optimizer=optimizer, seed=seed, message=message)


__all__ = ["fit", "FitResult"]
