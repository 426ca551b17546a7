"""The [algorithm] table: presets, parts and which combinations make sense.

An algorithm is a protocol (who computes what, when), an estimator, a step rule and a server update (the gradient
step, then a regularizer's prox). `algorithm.name` names a preset, which fixes the protocol and fills in parts; any
part set explicitly wins. The compatibility table (COMPATIBILITY) lists every combination that is refused, with the
reason; the refusals themselves are raised where the facts they need are known (here, schema.USED_BY, the loader for
the objective's sample count, sim/run.build_algorithm for a resolved corollary step).
"""

from __future__ import annotations

import math
from typing import Any

from models.regularizers import REGULARIZERS
from models.updates import STALENESS_POLICIES, largest_step
from models.values import is_real
from scenarios.errors import MISSING, ScenarioError
from scenarios.types import Algorithm, Compensation, Estimator, Step
from scenarios.validate import INT64_MAX, RECORDED_AS_INT64, Table, capped, choice

PRESETS = {  # algorithm.name -> its protocol (and parts: sapalm writes one of `blocks` contiguous blocks)
    "asysg-con": "asysg-con",
    "asysg-incon": "asysg-incon",
    "sync": "sync",
    "sapalm": "asysg-incon",
    "dc-asgd": "asysg-con",
    "rennala": "asysg-con",     # the parameter server dropping every gradient of staleness >= 1 (dropping_bound)
    "ringmaster": "asysg-con",  # ... of staleness >= threshold R; with cancel, computations are stopped at R
}
ALGORITHM_KEYS = ("name", "batch", "iterations", "step", "minibatch", "block", "estimator", "regularizer", "blocks",
                  "compensation", "threshold", "cancel")
DC_ASGD_LAMBDA = 0.04  # dc-asgd's default lambda_0: Zheng et al. 2017's reported DC-ASGD-c setting (CIFAR-10)
DC_ASGD_EPSILON = 1e-7  # DC-ASGD-a's epsilon (Zheng et al. 2017)
STEP_POLICIES = {"constant": ("value",), "corollary": (), "decay": ("c",), "staleness-aware": ("value",),
                 "delay-adaptive": ("value",)}  # policy -> its parameters (each > 0)
DELAY_RULES = ("mishchenko", "koloskova")  # step = { policy = "delay-adaptive", rule = ... } (models.updates.steps)
ESTIMATOR_KEYS = {"sg": (), "svrg": ("epoch",)}

COMPATIBILITY = (  # (key, with, why refused): bad input naming both keys
    ("algorithm.block", 'algorithm.name = "sapalm"', "SAPALM writes whole blocks: set algorithm.blocks"),
    ("algorithm.blocks", 'algorithm.name other than "sapalm"', "only SAPALM partitions the coordinates into blocks"),
    ("algorithm.estimator.name = \"svrg\"", "an objective without a finite sample set (objective.name = "
     "\"noisy-rosenbrock\")", "SVRG's snapshot needs a full pass over the samples"),
    ("algorithm.regularizer.concavity (mcp)", "algorithm.step", "MCP's prox needs concavity > every step gamma_k"),
    ("algorithm.compensation", 'algorithm.name other than "asysg-con" | "dc-asgd"', "DC-ASGD compensates with the "
     "iterate each gradient read, which only a parameter server keeps"),
    ("algorithm.compensation", 'algorithm.estimator.name = "svrg"', "DC-ASGD's Taylor correction is of a plain "
     "stochastic gradient"),
    ("[staleness]", 'algorithm.name = "rennala" | "ringmaster"', "they fix the staleness bound and drop policy"),
    ("algorithm.batch other than 1", 'algorithm.name = "ringmaster"', "Ringmaster applies each gradient at once"),
    ("algorithm.cancel = true", 'algorithm.estimator.name = "svrg"', "a cancelled computation would outlive its epoch"),
    ("algorithm.step.policy = \"staleness-aware\" | \"delay-adaptive\"", 'algorithm.name = "asysg-incon" | "sapalm"',
     "a staleness-dependent step needs the version each gradient read (a parameter server)"),
    ("algorithm.step.policy = \"staleness-aware\" | \"delay-adaptive\"", "algorithm.regularizer with "
     "algorithm.batch > 1", "the prox takes one step per update, and the M gradients have their own"),
)


def algorithm(table: Table, workers: int) -> tuple[Algorithm, dict[str, Any]]:
    """The Algorithm and its resolved table (sync's batch is implied by cluster.workers and not written out)."""
    name = table.choice("name", tuple(PRESETS), "asysg-con")
    protocol = PRESETS[name]
    batch = _capped(table, "batch", workers if protocol == "sync" else 1, 1)
    if protocol == "sync" and batch != workers:
        raise ScenarioError(table.key("batch"), batch,
                            f'"sync" sums one gradient from each worker per update: batch must equal '
                            f"cluster.workers ({workers}) or be omitted")
    iterations = _capped(table, "iterations", 1000, 1, "update numbers are recorded as 64-bit integers")
    step, step_out = _step(table.get("step", {"policy": "corollary"}), table.key("step"))
    minibatch = table.integer("minibatch", 1, low=1)  # its upper limit depends on the objective: scenarios.loader
    block = _capped(table, "block", 1, 1)  # <= the objective's dim: scenarios.loader
    blocks = _capped(table, "blocks", 1, 1)  # <= the objective's dim: scenarios.loader
    estimator, estimator_out = _estimator(table.get("estimator", "sg"), table.key("estimator"))
    regularizer = _regularizer(table.get("regularizer", "none"), table.key("regularizer"))
    check_step(regularizer, step, table.key("step"))
    _check_staleness_step(step, protocol, regularizer, batch, table.key("step"))
    compensation, compensation_out = _compensation(table.get("compensation", {} if name == "dc-asgd" else None),
                                                   table.key("compensation"))
    if compensation is not None and estimator.name != "sg":
        raise ScenarioError(table.key("compensation"), compensation_out, "DC-ASGD compensates plain stochastic "
                            'gradients: remove it or set algorithm.estimator = "sg"')
    threshold, cancel = _ringmaster(table, name, batch)
    out = {"name": name, "batch": batch, "iterations": iterations, "step": step_out, "minibatch": minibatch,
           "block": block, "estimator": estimator_out, "regularizer": regularizer, "blocks": blocks}
    if name == "ringmaster":
        out.update(threshold=threshold, cancel=cancel)
    if compensation is not None:
        out["compensation"] = compensation_out
    if protocol == "sync":
        del out["batch"]  # implied by cluster.workers: written out, it would refuse a later --set cluster.workers
    return Algorithm(name, batch, iterations, step, minibatch, block, protocol, estimator, regularizer,
                     blocks if name == "sapalm" else None, compensation, threshold, cancel), out


def dropping_bound(algorithm: Algorithm) -> int | None:
    """The staleness bound T of a dropping preset, whose server drops every gradient staler than T (policy "drop"):
    Rennala SGD (Tyurin, Richtarik 2023) accepts only gradients computed at the current iterate, T = 0; Ringmaster
    ASGD (Maranjyan, Tyurin, Richtarik 2025) applies a gradient iff its staleness is < R, T = R - 1. None for the
    other presets, which read [staleness]."""
    return 0 if algorithm.name == "rennala" else algorithm.threshold - 1 if algorithm.name == "ringmaster" else None


def _ringmaster(table: Table, name: str, batch: int) -> tuple[int | None, bool]:
    """Ringmaster's threshold R >= 1 (required) and cancel (default false); (None, False) for the other presets
    (schema.USED_BY refuses the keys there)."""
    if name != "ringmaster":
        return None, False
    if batch != 1:
        raise ScenarioError(table.key("batch"), batch, '"ringmaster" applies each gradient at once: batch must be 1 '
                            "or be omitted")
    threshold = _capped(table, "threshold", MISSING, 1)
    cancel = table.boolean("cancel", False)
    estimator = table.data.get("estimator", "sg")
    if cancel and (estimator == "svrg" or isinstance(estimator, dict) and estimator.get("name") == "svrg"):
        raise ScenarioError(table.key("cancel"), True, 'is not simulated with algorithm.estimator.name = "svrg" '
                            "(a cancelled computation would outlive its epoch): set algorithm.cancel = false")
    return threshold, cancel


def check_step(regularizer: dict[str, Any], step: Step, path: str = "algorithm.step") -> None:
    """MCP needs concavity > gamma_k for every k; the largest step of a constant or decay policy is known here
    (a corollary step only once the objective is built: sim/run.build_algorithm)."""
    if step.policy == "corollary":
        return
    why = build_regularizer(regularizer).check_step(largest_step(step.policy, step.value, step.c))
    if why is not None:
        raise ScenarioError(path, {"policy": step.policy, **({"value": step.value} if step.value else {"c": step.c})},
                            f"{why} (algorithm.regularizer.concavity)")


def _check_staleness_step(step: Step, protocol: str, regularizer: dict[str, Any], batch: int, path: str) -> None:
    """A staleness-dependent step needs a parameter server, and one step per update for a prox (COMPATIBILITY)."""
    if step.policy not in STALENESS_POLICIES:
        return
    if protocol == "asysg-incon":
        raise ScenarioError(f"{path}.policy", step.policy, 'a staleness-dependent step needs the version each gradient '
                            'read: use it with algorithm.name = "asysg-con" or "sync", not a shared-memory protocol')
    if regularizer["name"] != "none" and batch > 1:
        raise ScenarioError(f"{path}.policy", step.policy, "with algorithm.regularizer the prox takes one step per "
                            "update, but each of the algorithm.batch > 1 gradients has its own: set batch = 1")


def build_regularizer(spec: dict[str, Any]):
    """The models.regularizers instance of a resolved regularizer table."""
    params = {key: value for key, value in spec.items() if key != "name"}
    return REGULARIZERS[spec["name"]](**params)


def _capped(table: Table, key: str, default: Any, low: int, why: str = RECORDED_AS_INT64) -> int:
    return capped(table, key, default, low, INT64_MAX, why)


def _step(value: Any, path: str) -> tuple[Step, dict[str, Any]]:
    if not isinstance(value, dict):
        if not is_real(value, low=0, open_low=True):
            raise ScenarioError(path, value, 'must be a number > 0 (a constant step) or a table: { policy = "constant", '
                                             'value = ... }, { policy = "corollary" } or { policy = "decay", c = ... }')
        value = {"policy": "constant", "value": value}
    policy = choice(value.get("policy", MISSING), f"{path}.policy", tuple(STEP_POLICIES))
    extra = ("rule", "concurrency") if policy == "delay-adaptive" else ()
    table = Table(value, path, ("policy", *STEP_POLICIES[policy], *extra))
    params: dict[str, Any] = {key: table.number(key, low=0, open_low=True) for key in STEP_POLICIES[policy]}
    if policy == "delay-adaptive":
        params["rule"] = table.choice("rule", DELAY_RULES, MISSING)
        concurrency = _capped(table, "concurrency", MISSING, 1) if "concurrency" in value else None
        if concurrency is not None:
            if params["rule"] != "koloskova":
                raise ScenarioError(table.key("concurrency"), concurrency, 'only rule = "koloskova" has a concurrency')
            params["concurrency"] = concurrency
    return Step(policy, **params), {"policy": policy, **params}


def _compensation(value: Any, path: str) -> tuple[Compensation | None, Any]:
    """None (absent) | { lambda = l0 } (DC-ASGD-c; dc-asgd's default l0 = DC_ASGD_LAMBDA) | { lambda = l0, momentum
    = m, epsilon = e } (DC-ASGD-a, e defaults to DC_ASGD_EPSILON)."""
    if value is None:
        return None, None
    table = Table(value, path, ("lambda", "momentum", "epsilon"))
    lambda_ = table.number("lambda", DC_ASGD_LAMBDA, low=0)
    if "momentum" not in table.data:
        if "epsilon" in table.data:
            raise ScenarioError(table.key("epsilon"), table.data["epsilon"], "only the adaptive DC-ASGD-a uses "
                                "epsilon: set momentum too")
        return Compensation(lambda_, None, None), {"lambda": lambda_}
    momentum = table.number("momentum", low=0, high=1)
    if momentum == 1:
        raise ScenarioError(table.key("momentum"), table.data["momentum"], "must be in [0, 1): at 1 the mean square "
                            "stays 0")
    epsilon = table.number("epsilon", DC_ASGD_EPSILON, low=0, open_low=True)
    return Compensation(lambda_, momentum, epsilon), {"lambda": lambda_, "momentum": momentum, "epsilon": epsilon}


def _estimator(value: Any, path: str) -> tuple[Estimator, Any]:
    """ "sg" | { name = "sg" } | { name = "svrg", epoch = m }."""
    if isinstance(value, str):
        if value != "sg":
            raise ScenarioError(path, value, '"sg" or a table: { name = "svrg", epoch = m } (m updates per snapshot)')
        return Estimator("sg", None), "sg"
    if not isinstance(value, dict):
        raise ScenarioError(path, value, 'must be "sg" or a table: { name = "svrg", epoch = m }')
    name = choice(value.get("name", MISSING), f"{path}.name", tuple(ESTIMATOR_KEYS))
    table = Table(value, path, ("name", *ESTIMATOR_KEYS[name]))
    if name == "sg":
        return Estimator("sg", None), "sg"
    epoch = _capped(table, "epoch", MISSING, 1)
    return Estimator("svrg", epoch), {"name": "svrg", "epoch": epoch}


def _regularizer(value: Any, path: str) -> dict[str, Any]:
    """ "none" | { name = "none" } | { name = "l1", weight } | { name = "mcp", weight, concavity } | { name = "box",
    low, high } (low may be -inf, high inf); returned as the resolved table."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise ScenarioError(path, value, 'must be "none" or a table such as { name = "l1", weight = 0.01 }')
    name = choice(value.get("name", MISSING), f"{path}.name", tuple(REGULARIZERS))
    cls = REGULARIZERS[name]
    table = Table(value, path, ("name", *cls.params))
    spec: dict[str, Any] = {"name": name}
    for key in cls.params:
        number = table.get(key)
        if not (is_real(number) or (name == "box" and isinstance(number, float) and math.isinf(number))):
            raise ScenarioError(table.key(key), number, "must be a finite number" + (" (or -inf / inf)" if name == "box" else ""))
        spec[key] = float(number)
    try:
        build_regularizer(spec)
    except (ValueError, OverflowError) as error:
        raise ScenarioError(path, value, str(error)) from None
    return spec
