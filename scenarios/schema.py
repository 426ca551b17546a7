"""The scenario schema: validates a parsed TOML document, fills every default in, builds the Scenario.

Each section function returns its dataclass together with its resolved (TOML-ready) table.
"""

from __future__ import annotations

import re
from typing import Any

from models import ParameterError, objective_params
from models.values import is_integer
from scenarios.distributions import Constant, Distribution, parse_distribution
from scenarios.errors import MISSING, ScenarioError
from scenarios.algorithms import ALGORITHM_KEYS, dropping_bound
from scenarios.algorithms import algorithm as parse_algorithm
from scenarios.types import Algorithm, Cluster, Failures, Record, Scenario, Speed, Staleness, WorkerTiming
from scenarios.validate import INT64_MAX, RECORDED_AS_INT64, Table, boolean, capped, integer, number, string

STALENESS_POLICIES = ("wait", "drop")

ZERO = {"dist": "constant", "value": 0.0}
DISTRIBUTION_DEFAULTS = {
    "compute": {"dist": "exponential", "mean": 1.0},
    "downlink": ZERO,
    "uplink": ZERO,
    "server": ZERO,
    "read": ZERO,
}
WORKER_DISTRIBUTIONS = ("compute", "downlink", "uplink")  # the ones a worker group may replace

TOP_KEYS = ("name", "seed", "objective", "algorithm", "staleness", "cluster", "record", "unused")
STALENESS_KEYS = ("bound", "policy")
CLUSTER_KEYS = ("workers", *DISTRIBUTION_DEFAULTS, "stragglers", "speed", "failures", "loss", "groups")
SPEED_KEYS = ("normal", "slow", "slowdown", "shared")
STRAGGLER_KEYS = ("probability", "slowdown")
GROUP_KEYS = ("workers", "slowdown", *WORKER_DISTRIBUTIONS, "stragglers", "speed", "failures", "loss")
FAILURE_KEYS = ("uptime", "downtime")
RECORD_KEYS = ("every", "trace")

# Keys only some algorithms read: given under another one with a value other than their default they would be
# silently ignored, so they are bad input. At its default (compared parsed: block = 1, read = constant 0, policy
# "wait"; staleness.bound has none) such a key is accepted, since run directories written before this rule hold
# them for every algorithm. Either way it is left out of the resolved scenario of the others.
USED_BY = {"algorithm.block": ("asysg-incon",), "algorithm.blocks": ("sapalm",),
           "algorithm.compensation": ("asysg-con", "dc-asgd"), "algorithm.threshold": ("ringmaster",),
           "algorithm.cancel": ("ringmaster",), "cluster.read": ("asysg-incon", "sapalm"),
           "staleness.bound": ("asysg-con", "asysg-incon", "sapalm", "dc-asgd"),
           "staleness.policy": ("asysg-con", "asysg-incon", "sapalm", "dc-asgd")}
UNUSED_DEFAULTS = {"algorithm.block": 1, "cluster.read": Constant(0.0), "staleness.policy": "wait"}
SHARED_MEMORY_ZERO = ("downlink", "uplink", "server")  # asysg-incon: no network, no server

# Upper limits of integer keys. Sweeps record the scenario's integers (seed, K, M, T, grid values) in int64 columns.
MAX_WORKERS = 10**6
WORKERS_LIMIT = ("each worker is a simulated process with its own random streams, and 10^6 of them already need "
                 "about 4 GB and minutes to start")


# `name` becomes part of file names (runs/NAME-seedN, runs/check-NAME), so it must be a plain name: it never
# chooses a folder. MAX_NAME leaves room within the file systems' NAME_MAX of 255 bytes for "-seed" and a 19-digit
# seed, plus the temporary names the outputs are staged under (".NAME-seedN." and 8 random characters, or
# ".NAME-seedN.old-PID").
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_NAME = 200
NAME_RULE = (f"must be a plain name of at most {MAX_NAME} characters: letters, digits, '.', '_' and '-', not "
             "starting with '.' (it names the run's folder, runs/NAME-seedN)")


def build(data: Any, default_name: str) -> Scenario:
    """Validate `data` (a parsed scenario document) and return the fully resolved Scenario. `default_name` (the
    scenario file's stem) is made a plain name (default_name_of) when the document gives none."""
    top = Table(data, "", TOP_KEYS)
    name = scenario_name(top.get("name", default_name_of(default_name)), top.key("name"))
    seed = capped(top, "seed", 0, 0, INT64_MAX, RECORDED_AS_INT64)
    objective, objective_out = _objective(top.get("objective"))
    cluster, cluster_out, parsed = _cluster(top.table("cluster", CLUSTER_KEYS))
    algorithm, algorithm_out = parse_algorithm(top.table("algorithm", ALGORITHM_KEYS), cluster.workers)
    staleness, staleness_out = _staleness(top.table("staleness", STALENESS_KEYS))
    _check_cycles(algorithm, cluster, cluster_out)
    _check_shared_memory(algorithm, parsed)
    record, record_out = _record(top.table("record", RECORD_KEYS), algorithm.iterations)
    resolved = {"name": name, "seed": seed, "objective": objective_out, "algorithm": algorithm_out,
                "staleness": staleness_out, "cluster": cluster_out, "record": record_out}
    _check_used(top.data, resolved, algorithm.name, {"algorithm.block": algorithm.block, "cluster.read": cluster.read,
                                                     "algorithm.blocks": algorithm.blocks,
                                                     "algorithm.compensation": algorithm.compensation,
                                                     "algorithm.threshold": algorithm.threshold,
                                                     "algorithm.cancel": algorithm.cancel,
                                                     "staleness.bound": staleness.bound,
                                                     "staleness.policy": staleness.policy})
    if (bound := dropping_bound(algorithm)) is not None:  # rennala, ringmaster: their own bound, policy "drop"
        staleness = Staleness(bound, "drop")
    if "unused" in top.data:  # the file's keys an algorithm switch left out (scenarios.switch): recorded, never read
        resolved["unused"] = top.table("unused", ("algorithm", "staleness", "cluster")).data
    return Scenario(name, seed, objective, algorithm, staleness, cluster, record, resolved)


def scenario_name(value: Any, path: str) -> str:
    """A plain name (NAME_PATTERN, at most MAX_NAME characters): no folder separator, NUL, newline or leading '.'."""
    if not isinstance(value, str) or len(value) > MAX_NAME or not NAME_PATTERN.fullmatch(value):
        raise ScenarioError(path, value, NAME_RULE)
    return value


def default_name_of(stem: str) -> str:
    """A file's stem as a plain name: each run of other characters becomes '-', a leading '.' is dropped, and it is
    cut to MAX_NAME characters ("scenario" if nothing is left)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).lstrip(".")[:MAX_NAME]
    return name or "scenario"


def _check_used(data: dict[str, Any], resolved: dict[str, Any], algorithm: str, parsed: dict[str, Any]) -> None:
    """A key of USED_BY given for an algorithm that does not read it is bad input unless its parsed value (in
    `parsed`) is its default (UNUSED_DEFAULTS); it is left out of `resolved`."""
    for key, users in USED_BY.items():
        if algorithm in users:
            continue
        section, name = key.split(".")
        if name in data.get(section, {}) and (key not in UNUSED_DEFAULTS or parsed[key] != UNUSED_DEFAULTS[key]):
            raise ScenarioError(key, data[section][name], f"only algorithm.name = {' or '.join(map(repr, users))} "
                                                          f"uses it, not {algorithm!r}: remove it")
        resolved[section].pop(name, None)
        if not resolved[section]:
            del resolved[section]


def _objective(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if value is MISSING:
        raise ScenarioError("objective", value, 'is required: a table such as [objective] name = "nonconvex-logistic"')
    if not isinstance(value, dict):
        raise ScenarioError("objective", value, "must be a table")
    name = string(value.get("name", MISSING), "objective.name")
    try:
        defaults = objective_params(name)
    except ParameterError as error:
        raise ScenarioError("objective.name", name, error.allowed) from None
    table = Table(value, "objective", ("name", *defaults))
    params = {key: _objective_param(table.get(key, default), table.key(key), default) for key, default in defaults.items()}
    # TOML has no null: a parameter left at a None default is written out by omission.
    return {"name": name, **params}, {"name": name, **{k: v for k, v in params.items() if v is not None}}


def _objective_param(value: Any, path: str, default: Any) -> Any:
    """Check an objective parameter against the type of its default; the objective itself checks the range (an
    integer beyond int64 is refused here)."""
    if isinstance(default, bool):
        return boolean(value, path)
    if isinstance(default, int):
        if is_integer(value) and value > INT64_MAX:
            raise ScenarioError(path, value, f"must be an integer <= {INT64_MAX}: {RECORDED_AS_INT64}")
        return integer(value, path)
    if isinstance(default, float):
        return number(value, path)
    if isinstance(default, str):
        return string(value, path)
    return value


def _staleness(table: Table) -> tuple[Staleness, dict[str, Any]]:
    bound = table.get("bound", None)  # None (or absent): unbounded
    if bound is not None:
        bound = capped(table, "bound", None, 0, INT64_MAX, RECORDED_AS_INT64)
    policy = table.choice("policy", STALENESS_POLICIES, "wait")
    out = {"policy": policy} if bound is None else {"bound": bound, "policy": policy}
    return Staleness(bound, policy), out


def _check_cycles(algorithm: Algorithm, cluster: Cluster, cluster_out: dict[str, Any]) -> None:
    """AsySG-con with a busy server: a worker whose pull-compute-push cycle takes no time would push without end
    at one instant while an update is in service, so its cycle must take time."""
    if algorithm.protocol != "asysg-con" or cluster.server.is_zero:
        return
    for worker, timing in enumerate(cluster.timings):
        if timing.compute.mean + timing.downlink.mean + timing.uplink.mean == 0:
            raise ScenarioError("cluster.compute", cluster_out["compute"],
                                f"worker {worker}'s pull-compute-push cycle takes no time while the server's service "
                                "time is not 0: give compute, downlink or uplink a positive mean")


def _check_shared_memory(algorithm: Algorithm, parsed: dict[str, Distribution | float]) -> None:
    """AsySG-incon threads share one machine's memory: network and server latencies (groups' too) must be 0, and no
    message can be lost. `parsed`: every distribution and loss _cluster parsed, by key path (a base latency that
    every worker's group replaces is in no worker's timing, yet still refused)."""
    if algorithm.protocol != "asysg-incon":
        return
    for path, dist in parsed.items():
        if path.rsplit(".", 1)[1] == "loss":
            if dist > 0:
                raise ScenarioError(path, dist, "must be 0 for asysg-incon: its threads share one machine's memory, "
                                                "with no network to lose a message on")
            continue
        if path.rsplit(".", 1)[1] in SHARED_MEMORY_ZERO and not dist.is_zero:
            raise ScenarioError(path, dist.spec(),
                                "must be 0 for asysg-incon: its threads share one machine's memory, with no network "
                                "and no server (the time a read takes is cluster.read)")


def _distribution(table: Table, key: str, default: Any = MISSING) -> tuple[Distribution, dict[str, Any]]:
    dist = parse_distribution(table.get(key, default), table.key(key))
    return dist, dist.spec()


def _stragglers(table: Table) -> tuple[tuple[float, float], dict[str, Any]]:
    probability = table.number("probability", 0.0, low=0, high=1)
    slowdown = table.number("slowdown", 1.0, low=1)
    return (probability, slowdown), {"probability": probability, "slowdown": slowdown}


def _cluster(table: Table) -> tuple[Cluster, dict[str, Any], dict[str, Distribution | float]]:
    """The Cluster, its resolved table and every distribution and loss parsed, by key path (cluster.uplink,
    cluster.groups[0].uplink, cluster.loss, ...)."""
    workers = capped(table, "workers", 4, 1, MAX_WORKERS, WORKERS_LIMIT)
    out: dict[str, Any] = {"workers": workers}
    dists = {}
    for key, default in DISTRIBUTION_DEFAULTS.items():
        dists[key], out[key] = _distribution(table, key, default)
    parsed = {table.key(key): dist for key, dist in dists.items()}
    stragglers, out["stragglers"] = _stragglers(table.table("stragglers", STRAGGLER_KEYS))
    speed = None
    if "speed" in table.data:
        speed, out["speed"] = _speed(table.table("speed", SPEED_KEYS))
    base = {key: dists[key] for key in WORKER_DISTRIBUTIONS} | {"stragglers": stragglers, "slowdown": 1.0,
                                                                "speed": speed, "unit": workers}
    _faults(table, base, out, parsed)
    settings = [base] * workers
    groups = table.get("groups", [])
    if not isinstance(groups, list):
        raise ScenarioError(table.key("groups"), groups, "must be an array of tables ([[cluster.groups]])")
    member_of: dict[int, int] = {}
    group_out = []
    for index, group in enumerate(groups):
        group_table = Table(group, f"{table.key('groups')}[{index}]", GROUP_KEYS)
        members, setting, resolved = _group(group_table, workers, base, member_of, index)
        parsed |= {group_table.key(key): setting[key] for key in WORKER_DISTRIBUTIONS if key in group_table.data}
        if "loss" in group_table.data:
            parsed[group_table.key("loss")] = setting["loss"]
        for worker in members:
            settings[worker] = setting
        group_out.append(resolved)
    if group_out:
        out["groups"] = group_out
    timings = tuple(WorkerTiming(s["compute"].scaled(s["slowdown"]), s["downlink"], s["uplink"], *s["stragglers"],
                                 s["speed"], s["unit"] if s["speed"] is not None and s["speed"].shared else worker,
                                 s["failures"], s["loss"])
                    for worker, s in enumerate(settings))
    return Cluster(workers, timings, dists["server"], dists["read"]), out, parsed


def _group(table: Table, workers: int, base: dict[str, Any], member_of: dict[int, int],
           index: int) -> tuple[list[int], dict[str, Any], dict[str, Any]]:
    """One [[cluster.groups]] entry: its member ids (recorded in `member_of`), its settings and resolved table."""
    path = table.key("workers")
    members, selector = _members(table.get("workers"), path, workers)
    for worker in members:
        if worker in member_of:
            where = "this group" if member_of[worker] == index else f"cluster.groups[{member_of[worker]}]"
            raise ScenarioError(path, selector, f"worker {worker} is already in {where} (with cluster.workers = "
                                                f"{workers}); a worker belongs to at most one group")
        member_of[worker] = index
    setting = dict(base, slowdown=table.number("slowdown", 1.0, low=0, open_low=True))
    out: dict[str, Any] = {"workers": selector, "slowdown": setting["slowdown"]}
    for key in WORKER_DISTRIBUTIONS:
        if key in table.data:
            setting[key], out[key] = _distribution(table, key)
    if "stragglers" in table.data:
        setting["stragglers"], out["stragglers"] = _stragglers(table.table("stragglers", STRAGGLER_KEYS))
    if "speed" in table.data:
        setting["speed"], out["speed"] = _speed(table.table("speed", SPEED_KEYS))
        setting["unit"] = workers + 1 + index  # a shared process of its own
    _faults(table, setting, out)
    return members, setting, out


def _faults(table: Table, setting: dict[str, Any], out: dict[str, Any], parsed: dict | None = None) -> None:
    """`failures` and `loss` of the cluster or a group, when given, into its setting and resolved table (and the
    cluster's loss into `parsed`); absent, the setting keeps the cluster's (none and 0 at the top)."""
    setting.setdefault("failures", None)
    setting.setdefault("loss", 0.0)
    if "failures" in table.data:
        setting["failures"], out["failures"] = _failures(table.table("failures", FAILURE_KEYS))
    if "loss" in table.data:
        loss = table.number("loss", low=0, high=1)
        if loss == 1:
            raise ScenarioError(table.key("loss"), table.data["loss"], "must be in [0, 1): with 1 no gradient "
                                                                        "ever arrives")
        setting["loss"] = out["loss"] = loss
    if parsed is not None:
        parsed[table.key("loss")] = setting["loss"]


def _failures(table: Table) -> tuple[Failures, dict[str, Any]]:
    """Failures: the uptime and downtime distributions (the uptime's mean > 0: a worker must get some work done)."""
    uptime, uptime_out = _distribution(table, "uptime")
    downtime, downtime_out = _distribution(table, "downtime")
    if uptime.mean <= 0:
        raise ScenarioError(table.key("uptime"), uptime_out, "must have a positive mean: a worker that is never up "
                                                             "computes nothing")
    return Failures(uptime, downtime), {"uptime": uptime_out, "downtime": downtime_out}


def _speed(table: Table) -> tuple[Speed, dict[str, Any]]:
    """A two-state speed: mean times in the normal and slow states (> 0), the slowdown (>= 1), shared or not."""
    speed = Speed(table.number("normal", low=0, open_low=True), table.number("slow", low=0, open_low=True),
                  table.number("slowdown", low=1), table.boolean("shared", False))
    return speed, {"normal": speed.normal, "slow": speed.slow, "slowdown": speed.slowdown, "shared": speed.shared}


SELECTORS = ("first", "last", "share")


def _members(value: Any, path: str, workers: int) -> tuple[list[int], Any]:
    """A group's member ids for `workers` workers, and its resolved `workers` value: an array of ids, or a selector
    resolved for every worker count: { first = n } (ids 0..n-1), { last = n } (the n highest ids), { share = s }
    (the round(s W) highest ids, half up; from = "first" for the lowest). More than W selected means all W."""
    if isinstance(value, list):
        if not value:
            raise ScenarioError(path, value, f"must be a non-empty array of worker ids in 0..{workers - 1}, or a "
                                             "selector: { first = n }, { last = n } or { share = s }")
        for position, worker in enumerate(value):
            integer(worker, f"{path}[{position}]", low=0, high=workers - 1)
        return list(value), list(value)
    table = Table(value, path, (*SELECTORS, "from"))
    given = [key for key in SELECTORS if key in table.data]
    if len(given) != 1:
        raise ScenarioError(path, value, "must select its members in one way: an array of worker ids, "
                                         "{ first = n }, { last = n } or { share = s } (0 < s <= 1)")
    kind = given[0]
    if kind == "share":
        share = table.number("share", low=0, high=1, open_low=True)
        end = table.choice("from", ("last", "first"), "last")
        count, resolved = min(workers, int(share * workers + 0.5)), {"share": share, "from": end}
    else:
        if "from" in table.data:
            raise ScenarioError(table.key("from"), table.data["from"], "goes with share only")
        count = table.integer(kind, low=1)
        resolved, end = {kind: count}, kind
        count = min(count, workers)
    members = list(range(count)) if end == "first" else list(range(workers - count, workers))
    return members, resolved


def _record(table: Table, iterations: int) -> tuple[Record, dict[str, Any]]:
    every = table.get("every", "auto")
    if every != "auto":
        if not is_integer(every, low=1):
            raise ScenarioError(table.key("every"), every, 'must be "auto" or an integer >= 1')
        if every > INT64_MAX:
            raise ScenarioError(table.key("every"), every, f'must be "auto" or an integer in [1, {INT64_MAX}]: '
                                                           f"{RECORDED_AS_INT64}")
    trace = table.boolean("trace", True)
    resolved_every = max(1, iterations // 1000) if every == "auto" else every
    return Record(resolved_every, trace), {"every": every, "trace": trace}
