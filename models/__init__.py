"""Benchmark nonconvex objectives with exact gradients and the constants the theory needs (L, sigma^2, f*)."""

from __future__ import annotations

import inspect
from typing import Any

from models.base import BOUND, ESTIMATE, EXACT, LOCAL_BOUND, Objective, ParameterError, one_blas_thread

# name -> Objective subclass; filled in by models/registry.py
from models.registry import OBJECTIVES
from models.values import choice_rule


def objective_params(name: str) -> dict[str, Any]:
    """The parameters of objective `name` with their defaults. Raises ParameterError("name", ...) if unknown."""
    if name not in OBJECTIVES:
        raise ParameterError("name", name, choice_rule(sorted(OBJECTIVES)))
    signature = inspect.signature(OBJECTIVES[name].__init__)
    return {p.name: p.default for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}


def get_objective(name: str, **params: Any) -> Objective:
    """Build objective `name`; unknown names or parameters raise ParameterError naming the parameter."""
    known = objective_params(name)
    for key in params:
        if key not in known:
            raise ParameterError(key, params[key], f"is not a parameter of {name}; it takes {', '.join(known) or 'none'}")
    with one_blas_thread():
        return OBJECTIVES[name](**params)


__all__ = ["BOUND", "ESTIMATE", "EXACT", "LOCAL_BOUND", "OBJECTIVES", "Objective", "ParameterError", "get_objective", "objective_params", "one_blas_thread"]
