"""The optimisers' loops: each generation is one call of ``Problem.evaluate`` (one batch)
(docs/architecture.md §12).  Both search the unit cube the bounds map to."""

from __future__ import annotations

import numpy as np

from .. import config
from .inputs import need
from .problem import Problem


def run_cma(problem: Problem, max_evals: int, popsize: int, seed: int) -> str:
    """CMA-ES (``cma``, ask/tell) from a random start drawn from ``seed``; returns why it
    stopped.  ``cma`` draws from NumPy's global generator, seeded from ``seed``: its state is
    saved and restored around the run, so a fit leaves the caller's draws untouched."""
    cma = need("cma", "optimizer='cma'")
    d = len(problem.names)
    ss = np.random.SeedSequence(seed)
    x0 = np.random.default_rng(ss).uniform(0.0, 1.0, d)
    cma_seed = int(ss.generate_state(1)[0]) % (2**31 - 1) + 1  # cma treats 0 as 'time'
    saved = np.random.get_state()  # noqa: NPY002 - cma draws from the legacy global one
    try:
        es = cma.CMAEvolutionStrategy(x0, config.FIT_CMA_SIGMA0, {
            "bounds": [0.0, 1.0], "popsize": popsize, "seed": cma_seed, "maxfevals": max_evals,
            "verbose": -9, "verb_log": 0, "verb_disp": 0, "tolfun": 1e-12, "tolx": 1e-9,
        })
        while not es.stop() and problem.evaluations + popsize <= max_evals:
            xs = es.ask()
            es.tell(xs, problem.evaluate(np.array(xs)).tolist())
        stop = es.stop()
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    return ", ".join(f"{k}={v}" for k, v in stop.items()) if stop else "max_evals"


def run_de(problem: Problem, max_evals: int, popsize: int, seed: int) -> str:
    """scipy's ``differential_evolution(vectorized=True)`` (deferred updating: one batch per
    generation), Latin-hypercube start from ``seed``, no polishing (the gradient polish
    evaluates one point at a time); returns scipy's message."""
    from scipy.optimize import differential_evolution

    d = len(problem.names)
    pop = max(popsize * d, 5)
    maxiter = max(max_evals // pop - 1, 1)  # the first generation is the initial population

    def f(x):  # scipy passes (d, S) and wants (S,)
        return problem.evaluate(np.asarray(x).T)

    r = differential_evolution(f, [(0.0, 1.0)] * d, popsize=popsize, maxiter=maxiter,
                               rng=np.random.default_rng(seed), vectorized=True,
                               updating="deferred", polish=False)
    return str(r.message)
