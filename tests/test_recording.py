"""sim/recording.py's parts against brute force and values by hand: staleness counts, the trace's rows and list
columns, the metrics rows, the workers' idle time and the event log."""

from __future__ import annotations

from array import array
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.recording import (EVENT_SCHEMA, INCON_SCHEMA, TRACE_SCHEMA, EventLog, InconTraceRecorder, MetricsRecorder,
                           StalenessCounter, TraceRecorder, WorkTally, _extend_offsets, staleness_table)

STALENESSES = st.lists(st.integers(0, 12), max_size=40)


@settings(max_examples=100, deadline=None)
@given(STALENESSES, STALENESSES)
def test_staleness_counts_one_at_a_time_or_as_arrays_are_the_brute_force_counts(first, second):
    one, many = StalenessCounter(), StalenessCounter()
    for s in first + second:
        one.add(s)
    many.add_all(np.array(first, dtype=np.int64))
    many.add_all(np.array(second, dtype=np.int64).reshape(-1, 1))
    values = first + second
    counts = Counter(values)
    expected = [counts[s] for s in range(max(values) + 1)] if values else []
    assert one.counts == many.counts == expected
    assert one.applied == len(values) and one.max == (max(values) if values else 0)
    assert one.mean == (sum(values) / len(values) if values else 0.0)
    sorted_values = sorted(values)
    for q in (50, 90, 99):  # the inverted CDF: the least value with at least q% of the sample at or below it
        expected_q = sorted_values[max(1, -(-q * len(values) // 100)) - 1] if values else None
        assert one.percentiles()[f"staleness_p{q}"] == expected_q
    assert list(one.percentiles()) == ["staleness_p50", "staleness_p90", "staleness_p99"]


def test_the_staleness_table_has_a_row_per_staleness_and_int64_columns():
    table = staleness_table([3, 0, 2])
    assert table.to_pydict() == {"staleness": [0, 1, 2], "count": [3, 0, 2]}
    for result in (table, staleness_table([])):
        assert result.schema == pa.schema([("staleness", pa.int64()), ("count", pa.int64())])


def test_trace_rows_derive_applied_and_staleness_and_keep_a_dropped_rows_own():
    trace = TraceRecorder(True)
    trace.add(0, 1, 0, 0, 0.5, 1.0, True, np.array([4, 5]))
    trace.add(-1, 0, 0, 7, 0.25, 1.5, False, np.array([6, 7]))
    trace.add(1, 0, 0, 1, 0.75, 2.0, True, np.array([8, 9]))
    table = trace.table()
    assert table.schema == TRACE_SCHEMA
    assert table.to_pydict() == {"update": [0, -1, 1], "worker": [1, 0, 0], "read_version": [0, 0, 0],
                                 "staleness": [0, 7, 1], "t_read": [0.5, 0.25, 0.75], "t_apply": [1.0, 1.5, 2.0],
                                 "applied": [True, False, True], "samples": [[4, 5], [6, 7], [8, 9]]}
    off = TraceRecorder(False)
    off.add(0, 1, 0, 0, 0.5, 1.0, True, np.array([4]))
    assert off.table().num_rows == 0 and off.table().schema == TRACE_SCHEMA
    for trace, incon in ((TraceRecorder(True), {}), (InconTraceRecorder(True), {
            "read_start": 0.0, "start_version": 1, "landed_at": [], "coordinates": np.array([0]), "missed": 1})):
        trace.add(3, 0, 1, 99, 0.5, 1.0, True, np.array([4]), **incon)  # an applied row's staleness is derived
        assert trace.table()["staleness"].to_pylist() == [2] and trace.table()["applied"].to_pylist() == [True]


BLOCK = {"workers": np.array([[0, 1], [1, 0]]), "versions": np.array([[2, 3], [3, 3]]),
         "t_read": np.array([[1.0, 1.5], [2.0, 2.5]]), "t_apply": np.array([3.0, 4.0]),
         "samples": np.arange(8).reshape(2, 2, 2)}  # updates 3 and 4 of M = 2 gradients of 2 samples


def _rows(trace: TraceRecorder, **incon) -> None:
    """BLOCK's rows one by one, with (incon) update j's written coordinates."""
    for j in range(2):
        for m in range(2):
            u, v, t = 3 + j, int(BLOCK["versions"][j, m]), float(BLOCK["t_read"][j, m])
            columns = ({"read_start": t, "start_version": v, "landed_at": [], "coordinates": incon["coordinates"][j],
                        "missed": u - v} if incon else {})
            trace.add(u, int(BLOCK["workers"][j, m]), v, u - v, t, float(BLOCK["t_apply"][j]), True,
                      BLOCK["samples"][j, m], **columns)


def test_a_closed_form_block_with_drops_records_the_rows_add_would_in_the_servers_order():
    from sim.closed_form.con import Dropped

    block, rows = TraceRecorder(True), TraceRecorder(True)
    dropped = Dropped(np.array([4]), np.array([1]), np.array([0]), np.array([4]), np.array([0.5]), np.array([3.5]),
                      np.array([[9, 9]]), 0)  # dropped just before update 4 was formed
    block.add_updates(3, **BLOCK, dropped=dropped)
    _rows(rows)
    expected = rows.table().to_pylist()
    expected.insert(2, {"update": -1, "worker": 1, "read_version": 0, "staleness": 4, "t_read": 0.5, "t_apply": 3.5,
                        "applied": False, "samples": [9, 9]})
    assert block.table().to_pylist() == expected
    without = TraceRecorder(True)
    without.add_updates(3, **BLOCK)
    assert without.table().equals(rows.table())
    off = TraceRecorder(False)
    off.add_updates(3, **BLOCK, dropped=dropped)
    assert off.table().num_rows == 0


def test_a_closed_form_block_of_shared_memory_writes_records_the_rows_add_would():
    block, rows = InconTraceRecorder(True), InconTraceRecorder(True)
    coordinates = [np.array([1, 2]), np.array([0])]
    block.add_updates(3, **BLOCK)
    block.add_writes(3, BLOCK["versions"], BLOCK["t_read"], coordinates)
    _rows(rows, coordinates=coordinates)
    assert block.table().schema == pa.schema([*TRACE_SCHEMA, *INCON_SCHEMA])
    assert block.table().equals(rows.table())
    assert block.table()["coordinates"].to_pylist() == [[1, 2], [1, 2], [0], [0]]
    off = InconTraceRecorder(False)
    off.add(0, 0, 0, 0, 0.0, 1.0, True, np.array([1]), read_start=0.0, start_version=0, landed_at=[2],
            coordinates=np.array([0]), missed=0)
    off.add_writes(3, BLOCK["versions"], BLOCK["t_read"], coordinates)
    assert off.table().num_rows == 0


def test_list_offsets_beyond_int32_are_refused():
    offsets = array("i", [2**31 - 3])
    _extend_offsets(offsets, np.array([1, 1], dtype=np.int64))
    assert offsets.tolist() == [2**31 - 3, 2**31 - 2, 2**31 - 1]  # the largest int32
    with pytest.raises(OverflowError) as error:
        _extend_offsets(offsets, np.array([1], dtype=np.int64))
    assert str(error.value) == "the trace holds more list elements than its int32 offsets can address"
    _extend_offsets(offsets, np.array([], dtype=np.int64))
    assert len(offsets) == 3


def test_metrics_rows_are_f_the_squared_gradient_norm_the_step_and_the_objective_by_hand():
    from scenarios import build_objective
    from sim.run import build_algorithm
    from tests.helpers import scenario

    s = scenario(workers=2, iterations=10, step={"policy": "decay", "c": 0.5})
    objective = build_objective(s)
    metrics = MetricsRecorder(build_algorithm(s, objective)[0], every=2)
    xs = [objective.x0, objective.x0 + 0.5, objective.x0 - 0.25]
    losses = [float(objective.value_and_grad(x)[0]) for x in xs]
    for k, x, loss in zip((0, 2, 3), xs, losses):
        assert metrics.record(k, 1.5 * k, 4 * k, x) == loss
    table = metrics.table()
    norms = [float(objective.grad(x) @ objective.grad(x)) for x in xs]
    assert table.to_pydict() == {"update": [0, 2, 3], "time": [0.0, 3.0, 4.5], "gradients": [0, 8, 12],
                                 "loss": losses, "grad_norm_sq": norms,
                                 "step": [0.5, 0.5 / np.sqrt(3), 0.25], "stationarity": norms,
                                 "objective": losses}
    assert metrics.ergodic_grad_norm_sq(3) == (norms[0] + norms[1]) / 2  # the recorded k < K
    weighted = (0.5 * norms[0] + 0.5 / np.sqrt(3) * norms[1]) / (0.5 + 0.5 / np.sqrt(3))
    assert metrics.ergodic_grad_norm_sq(3, weighted=True) == pytest.approx(weighted, rel=1e-15)
    empty = MetricsRecorder(metrics.algorithm, every=1).table()
    assert empty.num_rows == 0 and empty.schema == table.schema
    assert [field.type for field in table.schema] == [pa.int64(), pa.float64(), pa.int64(), *[pa.float64()] * 5]


def test_idle_time_is_the_gaps_between_spans_and_after_the_last_by_hand():
    tally = WorkTally(2)
    tally.start(0, 1.0, 2.0)   # worker 0 busy 1..3 (idle 0..1)
    tally.start(0, 2.0, 0.5)   # within: nothing idle, still busy until 3
    tally.start(1, 0.0, 4.0)   # worker 1 busy 0..4
    tally.cut(1, 2.5)          # a failure: busy only until 2.5
    tally.start(0, 5.0, 1.0)   # idle 3..5, busy 5..6
    assert tally.idle(6.0) == 1.0 + 2.0 + (6.0 - 2.5)
    assert tally.idle(2.0) == 1.0 + 2.0  # a worker busy past `until` adds nothing
    tally.everyone(7.0, 1.0)   # a snapshot round: both busy 7..8, idle 6..7 and 2.5..7
    assert tally.idle(8.0) == 1.0 + 2.0 + 1.0 + (7.0 - 2.5)
    tally.gapless = True
    assert tally.idle(100.0) == 0.0


def test_events_are_counted_by_kind_and_listed_in_a_stable_time_order():
    log = EventLog()
    log.add(2.0, 1, "failure", 3, 0.5)
    log.add(1.0, 0, "slow")
    log.add(2.0, 0, "loss", 4, 0.25)
    log.add(1.0, 1, "normal")
    log.add(3.0, 1, "recovery")
    log.add(4.0, 0, "cancel", 5, 2.0)
    assert log.counts() == {"failures": 1, "lost_messages": 1, "speed_switches": 2, "lost_worker_time": 0.75}
    table = log.table()
    assert table.schema == EVENT_SCHEMA and EventLog().table().schema == EVENT_SCHEMA
    assert table.to_pydict() == {"time": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0], "worker": [0, 1, 1, 0, 1, 0],
                                 "kind": ["slow", "normal", "failure", "loss", "recovery", "cancel"],
                                 "read_version": [-1, -1, 3, 4, -1, 5], "lost_time": [0.0, 0.0, 0.5, 0.25, 0.0, 2.0]}
