"""A fitting problem: one batch per generation (population x protocols), features computed in
the kernel, z-scores against the targets (docs/architecture.md §12).

The population's parameters are columns ``(P, 1)`` and the protocols a row of ``K`` stimuli,
so one :class:`~hhfast.engine.plan.RunPlan` of batch shape ``(P, K)`` runs a whole generation;
the plan is made (and every argument checked) once and re-run with new values each
generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import config
from ..engine.plan import plan as make_plan


def zscores(feats: dict[str, np.ndarray], targets: list[dict]) -> dict[tuple[int, str], np.ndarray]:
    """``|f - mean| / sd`` per (protocol, feature), each over the population (axis 0); NaN
    (an undefined feature) counts as ``config.FIT_NAN_PENALTY``."""
    out = {}
    for k, tgt in enumerate(targets):
        for name, (mean, sd) in tgt.items():
            z = np.abs(feats[name][:, k] - mean) / sd
            out[(k, name)] = np.where(np.isnan(z), config.FIT_NAN_PENALTY, z)
    return out


def combine(z: dict, how: str) -> np.ndarray:
    """The loss of each member: the sum (or the max) of its z-scores."""
    stack = np.stack(list(z.values()))
    return stack.sum(axis=0) if how == "sum" else stack.max(axis=0)


@dataclass
class FeatureBatch:
    """Features of many parameter sets under every protocol, one batch per call.

    ``run(v)`` for values ``v`` (P, d) of the parameters ``names`` simulates the batch
    ``(P, len(protocols))`` and returns ``{feature: (P, K) array}``.  The plan of each
    population size is made once (checking every argument of ``sim``, the simulate options)
    and re-run with new values.
    """

    protocols: list
    features: list[str]
    names: list[str]
    sim: dict
    _plans: dict = field(default_factory=dict)

    def plan(self, v: np.ndarray):
        """The run plan for the values ``v`` (P, d) (made, and checked with ``v``, on first use
        of the size P)."""
        pop = v.shape[0]
        if pop not in self._plans:
            cols = {n: v[:, j:j + 1] for j, n in enumerate(self.names)}
            self._plans[pop] = make_plan(self.protocols, features=self.features, **self.sim,
                                         **cols)
        return self._plans[pop]

    def check(self) -> None:
        """Check every argument but the parameters' values (a plan with their defaults),
        compiling nothing."""
        make_plan(self.protocols, features=self.features, **self.sim)

    def run(self, v: np.ndarray) -> dict[str, np.ndarray]:
        """``{feature: (P, K) array}`` of the values ``v`` (P, d), one batch."""
        res = self.plan(v).run(**{n: v[:, j:j + 1] for j, n in enumerate(self.names)})
        return {n: np.asarray(res.features[n], dtype=float) for n in self.features}


@dataclass
class Problem:
    """What the optimisers see: ``evaluate(U)`` for points ``U`` (P, d) in the unit cube.

    ``names`` and ``lo``/``hi`` are the fitted parameters and their bounds; the other
    arguments are those of :func:`hhfast.simulate` (``sim``) and of the loss.  Every call of
    :meth:`evaluate` is one generation: one batch, ``P x len(protocols)`` neurons; its best
    member is kept in ``history`` (the loss) and ``best_*``.
    """

    protocols: list
    targets: list[dict]
    names: list[str]
    lo: np.ndarray
    hi: np.ndarray
    sim: dict
    loss: str = "sum"
    progress: object = None
    evaluations: int = 0
    history: list = field(default_factory=list)
    best_loss: float = np.inf
    best_u: np.ndarray | None = None
    best_z: dict = field(default_factory=dict)
    best_features: dict = field(default_factory=dict)
    last_u: np.ndarray | None = None
    last_loss: np.ndarray | None = None
    batch: FeatureBatch | None = None

    @property
    def features(self) -> list[str]:
        return sorted({n for t in self.targets for n in t})

    def values(self, u: np.ndarray) -> np.ndarray:
        """Unit-cube points -> parameter values (P, d)."""
        return self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)

    def check(self, pop: int) -> None:
        """Make the batch and its plan for generations of ``pop`` members, checking every
        argument with the first member at the lower bounds and the rest at the upper ones, so
        the whole box is checked before anything is compiled or run."""
        self.batch = FeatureBatch(self.protocols, self.features, self.names, self.sim)
        self.batch.plan(np.where(np.arange(pop)[:, None] == 0, self.lo, self.hi))

    def run_features(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """One batch: the features (P, K) of the unit-cube points ``u`` (P, d)."""
        if self.batch is None:
            self.check(u.shape[0])
        return self.batch.run(self.values(u))

    def evaluate(self, u: np.ndarray) -> np.ndarray:
        """Losses (P,) of the points ``u`` (P, d) in the unit cube; one batch."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        feats = self.run_features(u)
        z = zscores(feats, self.targets)
        loss = combine(z, self.loss)
        self.evaluations += u.shape[0]
        i = int(np.argmin(loss))
        if loss[i] < self.best_loss:
            self.best_loss = float(loss[i])
            self.best_u = u[i].copy()
            self.best_z = {key: float(a[i]) for key, a in z.items()}
            self.best_features = {(k, n): float(feats[n][i, k])
                                  for k, t in enumerate(self.targets) for n in t}
        self.history.append((self.evaluations, float(loss[i]), self.best_loss))
        self.last_u, self.last_loss = u.copy(), loss.copy()
        if self.progress is not None:
            self.progress(len(self.history), self.evaluations, self.best_loss)
        return loss
