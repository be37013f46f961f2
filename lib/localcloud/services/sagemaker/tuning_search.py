"""How a tuning job chooses the hyperparameters of its next training job: Random, Grid and Bayesian search.

"How Hyperparameter Tuning Works" (SageMaker developer guide): random search "chooses a random combination of
values from within the ranges ... for each training job", independent of earlier results; grid search "chooses
combinations of values from the range of categorical values" until every distinct combination ran; Bayesian
optimisation "treats hyperparameter tuning like a regression problem": after each result it fits a model and
picks the next values, sometimes "close to the combination that resulted in the best previous training job"
(exploit), sometimes "far removed from those it has tried" (explore). ``RandomSeed`` makes the choices
reproducible ("Best Practices for Hyperparameter Tuning": "for random search ... up to 100% reproducibility").

SageMaker's own Bayesian optimiser is not public. This one is the textbook form the guide's references describe
(Snoek et al., "Practical Bayesian Optimization of Machine Learning Algorithms"): a Gaussian process with a
Matérn 5/2 kernel over the unit cube (categorical values one-hot), its length scale chosen by marginal
likelihood, expected improvement maximised over random and near-best candidates, pending trials counted at the
model's mean ("kriging believer") so parallel trials spread out. The first ``INITIAL`` trials are random. Written
with numpy because none of the project's libraries does Bayesian optimisation, and one module is lighter than a
new dependency in the server for it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from localcloud.services.sagemaker.tuning_space import Space

#: random trials before the Gaussian process decides
INITIAL = 3
CANDIDATES = 1024
LENGTH_SCALES = (0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.6)
NOISE = 1e-4
XI = 0.01  # expected improvement's exploration margin (in standardised units)


@dataclass
class Observation:
    """One trial as the search sees it: its values and, once evaluated, its objective (None while pending or
    when it produced none)."""

    values: Mapping[str, str]
    objective: float | None = None
    pending: bool = False


@dataclass
class Strategy:
    """The base: proposes values not tried before, while ``remaining`` allows."""

    space: Space
    maximize: bool
    seed: int | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def propose(self, history: list[Observation]) -> dict[str, str] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _random_point(self) -> dict[str, str]:
        return self.space.point([self.rng.random() for _ in self.space.dimensions])

    def _fresh_random(self, history: list[Observation]) -> dict[str, str] | None:
        """A random point; in a finite space one not tried yet (None when every point was tried)."""
        if self.space.combinations == math.inf:
            return self._random_point()
        seen = {_key(o.values) for o in history}
        if len(seen) >= self.space.combinations:
            return None
        for _ in range(64):
            point = self._random_point()
            if _key(point) not in seen:
                return point
        untried = [p for p in _all_points(self.space) if _key(p) not in seen]
        return self.rng.choice(untried) if untried else None


def _key(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in values.items()))


def _all_points(space: Space) -> Iterator[dict[str, str]]:
    """Every point of a finite space (integers and categorical values)."""
    axes = []
    for d in space.dimensions:
        if d.kind == "Categorical":
            axes.append(list(d.values))
        else:
            axes.append([str(v) for v in range(int(d.low), int(d.high) + 1)])
    for combo in itertools.product(*axes):
        yield dict(zip(space.names, combo, strict=True))


class RandomSearch(Strategy):
    def propose(self, history: list[Observation]) -> dict[str, str] | None:
        return self._fresh_random(history)


class GridSearch(Strategy):
    """Every combination once, in order (the order AWS runs them in is not documented)."""

    def propose(self, history: list[Observation]) -> dict[str, str] | None:
        seen = {_key(o.values) for o in history}
        return next((p for p in self.space.grid() if _key(p) not in seen), None)


class BayesianSearch(Strategy):
    def propose(self, history: list[Observation]) -> dict[str, str] | None:
        done = [o for o in history if not o.pending and o.objective is not None and math.isfinite(o.objective)]
        if len(history) < INITIAL:
            return self._initial(history)
        if len(done) < INITIAL:
            return self._fresh_random(history)
        x = np.array([self.space.encode(o.values) for o in done])
        y = np.array([-o.objective if self.maximize else o.objective for o in done], dtype=float)  # minimise
        pending = [self.space.encode(o.values) for o in history if o.pending]
        candidates = self._candidates(x[int(np.argmin(y))], history)
        if not candidates:
            return None
        model = GaussianProcess.fit(x, y)
        if pending:
            believed = np.array(pending)
            model = GaussianProcess.fit(np.vstack([x, believed]), np.concatenate([y, model.mean(believed)]),
                                        model.length_scale)
        encoded = np.array([self.space.encode(c) for c in candidates])
        scores = model.expected_improvement(encoded, float(np.min(y)))
        return candidates[int(np.argmax(scores))]

    def _initial(self, history: list[Observation]) -> dict[str, str] | None:
        """The first points as a Latin hypercube: each dimension's range cut in ``INITIAL`` strata, each stratum
        used once (so two categorical values are both tried)."""
        if not hasattr(self, "_design"):
            columns = []
            for _ in self.space.dimensions:
                strata = list(range(INITIAL))
                self.rng.shuffle(strata)
                columns.append([(s + self.rng.random()) / INITIAL for s in strata])
            self._design = [self.space.point([c[i] for c in columns]) for i in range(INITIAL)]
        seen = {_key(o.values) for o in history}
        fresh = [p for p in self._design if _key(p) not in seen]
        return fresh[0] if fresh else self._fresh_random(history)

    def _candidates(self, best: np.ndarray, history: list[Observation]) -> list[dict[str, str]]:
        """Random points and points near the best so far, as values (so integers and categories are what is
        scored), none tried before."""
        seen = {_key(o.values) for o in history}
        found: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        units_of_best = self._units(best)
        for i in range(CANDIDATES):
            if i % 4 == 3:  # a quarter near the best
                units = [min(max(u + self.rng.gauss(0.0, 0.1), 0.0), 1.0) for u in units_of_best]
            else:
                units = [self.rng.random() for _ in self.space.dimensions]
            point = self.space.point(units)
            if _key(point) not in seen:
                found.setdefault(_key(point), point)
        if not found and self.space.combinations != math.inf:
            found = {_key(p): p for p in _all_points(self.space) if _key(p) not in seen}
        return list(found.values())

    def _units(self, encoded: np.ndarray) -> list[float]:
        """Back from the encoding to one coordinate per dimension (a categorical one: its chosen cell)."""
        units, column = [], 0
        for d in self.space.dimensions:
            if d.kind == "Categorical":
                units.append((int(np.argmax(encoded[column:column + d.width])) + 0.5) / d.width)
            else:
                units.append(float(encoded[column]))
            column += d.width
        return units


@dataclass
class GaussianProcess:
    """A zero-mean Gaussian process on standardised targets, Matérn 5/2 kernel."""

    x: np.ndarray
    alpha: np.ndarray
    chol: np.ndarray
    length_scale: float
    offset: float
    scale: float

    @staticmethod
    def kernel(a: np.ndarray, b: np.ndarray, length_scale: float) -> np.ndarray:
        d = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)) / length_scale
        return (1.0 + math.sqrt(5) * d + 5.0 / 3.0 * d**2) * np.exp(-math.sqrt(5) * d)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, length_scale: float | None = None) -> GaussianProcess:
        offset, scale = float(np.mean(y)), float(np.std(y)) or 1.0
        z = (y - offset) / scale
        best: tuple[float, GaussianProcess] | None = None
        for ls in (length_scale,) if length_scale else LENGTH_SCALES:
            k = cls.kernel(x, x, ls) + NOISE * np.eye(len(x))
            chol = np.linalg.cholesky(k)
            alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
            evidence = -0.5 * float(z @ alpha) - float(np.log(np.diag(chol)).sum())
            if best is None or evidence > best[0]:
                best = (evidence, cls(x, alpha, chol, ls, offset, scale))
        assert best is not None
        return best[1]

    def mean(self, points: np.ndarray) -> np.ndarray:
        return self.offset + self.scale * (self.kernel(points, self.x, self.length_scale) @ self.alpha)

    def expected_improvement(self, points: np.ndarray, best: float) -> np.ndarray:
        """Expected improvement below ``best`` (targets are minimised)."""
        cross = self.kernel(points, self.x, self.length_scale)
        mu = cross @ self.alpha
        v = np.linalg.solve(self.chol, cross.T)
        sigma = np.sqrt(np.maximum(1.0 + NOISE - (v**2).sum(0), 1e-12))
        gain = (best - self.offset) / self.scale - mu - XI
        z = gain / sigma
        cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
        return gain * cdf + sigma * pdf


STRATEGIES: dict[str, type[Strategy]] = {"Random": RandomSearch, "Grid": GridSearch, "Bayesian": BayesianSearch}


def strategy(name: str, space: Space, maximize: bool, seed: int | None) -> Strategy:
    return STRATEGIES[name](space, maximize, seed)
