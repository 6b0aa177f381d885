"""FitResult: what a fit found, how it got there, and a figure of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FitResult:
    """The outcome of :func:`hhfast.fit`.

    Attributes
    ----------
    best : dict[str, float]
        The fitted parameters (the best member seen in any generation), in their units.
    loss : float
        Its loss (sum or max of the z-scores, see ``hh.fit``).
    history : ndarray, shape (G, 3)
        Per generation: evaluations so far, the generation's best loss, the best loss so far.
    population : ndarray, shape (P, d)
        The last generation's members (parameter units, columns in the order of ``names``).
    population_loss : ndarray, shape (P,)
        Their losses.
    errors : list[dict[str, float]]
        Per protocol, the z-score ``|f - mean| / sd`` of each target feature of the best.
    features : list[dict[str, float]]
        Per protocol, the best's feature values (NaN: undefined).
    targets : list[dict[str, tuple[float, float]]]
        Per protocol, the targets ``{name: (mean, sd)}`` (extracted ones included).
    names : list[str]
        The fitted parameters; ``bounds`` their ``(lo, hi)``.
    evaluations : int
        Parameter sets simulated (each under every protocol).
    wall_time : float
        Seconds the fit took (compilation of a new kernel included).
    optimizer, seed, message
        The optimiser, its seed and why it stopped.
    """

    best: dict
    loss: float
    history: np.ndarray
    population: np.ndarray
    population_loss: np.ndarray
    errors: list
    features: list
    targets: list
    names: list
    bounds: dict
    evaluations: int
    wall_time: float
    optimizer: str
    seed: int
    message: str

    @property
    def generations(self) -> int:
        return len(self.history)

    def plot(self, fig=None):
        """Loss history and the best's features against the targets (z-scores); returns the
        matplotlib Figure."""
        from .. import plotting

        return plotting.fit_plot(self, fig=fig)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable data (NaN as None)."""

        def clean(x):
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, np.ndarray):
                return clean(x.tolist())
            if isinstance(x, float | np.floating):
                return None if not np.isfinite(x) else float(x)
            if isinstance(x, np.integer):
                return int(x)
            return x

        return clean({
            "best": self.best, "loss": self.loss, "evaluations": self.evaluations,
            "generations": self.generations, "wall_time_s": self.wall_time,
            "optimizer": self.optimizer, "seed": self.seed, "message": self.message,
            "names": self.names, "bounds": self.bounds, "errors": self.errors,
            "features": self.features, "targets": self.targets,
            "history": {"evaluations": self.history[:, 0], "generation_best": self.history[:, 1],
                        "best_so_far": self.history[:, 2]},
            "population": self.population, "population_loss": self.population_loss,
        })

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v:.4g}" for k, v in self.best.items())
        return (f"FitResult({self.optimizer}: loss {self.loss:.4g} after {self.evaluations} "
                f"evaluations in {self.generations} generations, {self.wall_time:.1f} s; {best})")
