"""The methods `asgd compare` can compare: one line per method, each a preset or protocol with its documented
default parts, and the objectives it applies to.

A method is the scenario overrides that switch a scenario to it (scenarios.switch: the file's keys it cannot use are
left out), computed from the objective; `needs` names what the objective (f + h) must have for the method to make
sense. The scenario's regularizer h is part of the problem, so every method keeps it (with a regularizer, asysg-con,
asysg-incon, sync and svrg take proximal steps). A method may still be refused by the cluster (asysg-incon and sapalm
share one machine's memory: no network latency); `asgd compare` reports that as "not applicable" with the reason.
New presets (issue 12) are one more line of METHODS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models import Objective

SAPALM_BLOCKS = 10  # as scenarios/sapalm.toml: the coordinates in 10 contiguous blocks (at most the dimension)
RENNALA_BATCH = 4   # as scenarios/rennala.toml: S fresh gradients per update
RINGMASTER_R = 4    # Ringmaster's delay threshold R (the bench's); the staleness-dependent step rules are not in the
                    # list: compare tunes a constant step, which would replace their rule


@dataclass(frozen=True)
class Method:
    name: str                                        # the label in compare's table and results.parquet
    parts: Callable[[Objective], dict[str, Any]]     # overrides, algorithm.name first
    needs: str | None = None                         # "finite-sum" | "regularizer" | None
    doc: str = ""


def _svrg(objective: Objective) -> dict[str, Any]:
    """Reddi et al. 2016, Corollary 3: m = floor(n / (3 mu_1)) with mu_1 = 1/3, i.e. one epoch = n updates."""
    return {"algorithm.name": "asysg-con", "algorithm.estimator": {"name": "svrg", "epoch": objective.n_samples}}


METHODS = (
    Method("asysg-con", lambda objective: {"algorithm.name": "asysg-con"},
           doc="parameter server, consistent reads (Lian et al. 2015, Algorithm 1)"),
    Method("asysg-incon", lambda objective: {"algorithm.name": "asysg-incon"},
           doc="shared memory, inconsistent reads, one coordinate written per update as in the paper "
               "(Lian et al. 2015, Section 4; block = 1: a gradient moves 1/dim of the vector)"),
    Method("sync", lambda objective: {"algorithm.name": "sync"},
           doc="synchronous minibatch SGD: one gradient from every worker per update"),
    Method("svrg", _svrg, needs="finite-sum",
           doc="asynchronous SVRG on the parameter server, epoch = n updates (Reddi et al. 2016, Corollary 3)"),
    Method("sapalm", lambda objective: {"algorithm.name": "sapalm",
                                        "algorithm.blocks": min(SAPALM_BLOCKS, objective.dim)},
           needs="regularizer", doc="SAPALM: shared memory, one block's prox step per update"),
    Method("dc-asgd", lambda objective: {"algorithm.name": "dc-asgd"},
           doc="DC-ASGD-c, lambda_0 = 0.04 (Zheng et al. 2017): each gradient compensated for its staleness"),
    Method("rennala", lambda objective: {"algorithm.name": "rennala", "algorithm.batch": RENNALA_BATCH},
           doc=f"Rennala SGD, S = {RENNALA_BATCH} fresh gradients per update, stale ones discarded "
               "(Tyurin and Richtarik 2023)"),
    Method("ringmaster", lambda objective: {"algorithm.name": "ringmaster", "algorithm.threshold": RINGMASTER_R,
                                            "algorithm.cancel": True},
           doc=f"Ringmaster ASGD, R = {RINGMASTER_R}, computations cancelled at staleness R (Maranjyan, Tyurin and "
               "Richtarik 2025, Algorithm 1)"),
)
BY_NAME = {method.name: method for method in METHODS}
SYNC_BASELINE = "sync"  # the method speedups are measured against


def why_not(method: Method, objective: Objective, regularizer: str) -> str | None:
    """Why `method` does not apply to this objective (with regularizer named `regularizer`), or None if it does."""
    if method.needs == "finite-sum" and objective.n_samples is None:
        return "needs a finite sum (this objective is a noise model)"
    if method.needs == "regularizer" and regularizer == "none":
        return "a proximal method: needs algorithm.regularizer"
    return None
