"""Which request fields decide a fact that is left unknown, found by trying their values: a
derivation whose answer depends on what the request leaves out names those fields
(`Unknown(find=...)`, facts/unknown.py)."""
from __future__ import annotations

import itertools
import math
from typing import Callable

from service.decide.parameters import ParameterNotInForce
from service.decide.periods import RegionNotCovered, UnknownFact


def results_of(answer: Callable[..., bool], tried: dict[str, tuple]) -> dict[tuple, bool]:
    """`answer` for every combination of the values tried; those it cannot decide on left out."""
    results: dict[tuple, bool] = {}
    for combination in itertools.product(*tried.values()):
        try:
            results[combination] = answer(*combination)
        except (UnknownFact, RegionNotCovered, ParameterNotInForce, ValueError):
            continue
    return results


def size_of(tried: dict[str, tuple]) -> int:
    return math.prod(len(values) for values in tried.values())


def deciding(answer: Callable[..., bool], tried: dict[str, tuple], results: dict | None = None) -> list[str]:
    """The fields (tried with more than one value) on which `answer` depends: those whose value
    alone, the others kept, changes it somewhere. Values that cannot be decided on are skipped."""
    names = list(tried)
    results = results_of(answer, tried) if results is None else results
    deciding = []
    for position, name in enumerate(names):
        if len(tried[name]) > 1 and any(
                results.get(c[:position] + (v,) + c[position + 1:], r) != r
                for c, r in results.items() for v in tried[name]):
            deciding.append(name)
    return deciding
