"""Weighted draws from a seeded ``random.Random``."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Weights(Generic[T]):
    """Items drawn with fixed weights. The cumulative table is built once: ``rng.choices`` with
    weights rebuilds it on every call, which shows at a million draws."""

    def __init__(self, items: Iterable[tuple[T, float]]):
        pairs = list(items)
        self.items = tuple(item for item, _ in pairs)
        self._cum = list(itertools.accumulate(w for _, w in pairs))
        self._total = self._cum[-1]

    @classmethod
    def of(cls, weights: dict[T, float]) -> Weights[T]:
        return cls(weights.items())

    def draw(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self._cum, rng.random() * self._total)]


def between(rng: random.Random, low: int, high: int) -> int:
    """A whole number in ``[low, high]``: ``rng.randint`` without its argument checks, which
    cost more than the draw itself in the generator's hot loop."""
    return low + int(rng.random() * (high - low + 1))
