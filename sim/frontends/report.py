"""A sweep's report: the table per grid point printed at the end of `asgd sweep`, and `report.md` with plots in the
sweep directory. `asgd report DIR` renders them again from a finished sweep, or from the finished runs of one that
was stopped (its .plan.json), without running anything.

    asgd report DIR [--wide]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.sweeps import grid_summary, measure, plot_against_key, plot_curves, plot_staleness_distributions
from scenarios import ScenarioError
from sim.frontends.rundir import LARGEST_PID, staged, staged_paths
from sim.frontends.store import PLAN, Store, _temporary, write_atomic
from sim.frontends.tables import table

PLOTS = "plots"
REPORT = "report.md"
OVERALL_PLOTS = ("staleness.png", "curves.png")  # besides one plot per grid key (_by_key)


@dataclass
class SweepData:
    """A sweep directory's results as DataFrames: `runs`, `staleness` and `curves` as in runs.parquet etc. (only the
    finished runs if the sweep is `partial`), its grid `keys` in grid order and its manifest."""

    runs: pd.DataFrame
    staleness: pd.DataFrame
    curves: pd.DataFrame
    keys: list[str]
    manifest: dict[str, Any]
    partial: bool
    planned: int


def load_sweep(out: Path) -> SweepData:
    """The results of the sweep in `out`: its consolidated files when complete (sweep.json), else the finished runs
    of the sweep last started there (.plan.json); anything else is bad input."""
    if (out / "sweep.json").is_file():
        manifest = json.loads((out / "sweep.json").read_text())
        frames = [pq.read_table(out / name).to_pandas() for name in ("runs.parquet", "staleness.parquet", "curves.parquet")]
        return SweepData(*frames, list(manifest["grid"]), manifest, False, manifest["runs"])
    if not (out / PLAN).is_file():
        raise ScenarioError("DIR", str(out), "is not an asgd sweep directory (it has neither sweep.json nor "
                                             f"{PLAN}): give the --out folder of an asgd sweep")
    store = Store(out)
    plan = store.plan()
    runs = [tuple(run) for run in plan["runs"]]
    curves: list[pa.Table] = []
    runs_table, staleness = store.tables(runs, plan["cells"], curves.append, finished_only=True)
    curves_table = pa.concat_tables(curves) if curves else pa.table({})
    manifest = plan["manifest"]
    return SweepData(runs_table.to_pandas(), staleness.to_pandas(), curves_table.to_pandas(), list(manifest["grid"]),
                     manifest, True, len(runs))


def summary_table(data: SweepData, wide: bool = False) -> str:
    """The grid summary as text: one row per grid point, in grid order; `wide` adds the intervals' bounds and more
    staleness percentiles (the report's Markdown table)."""
    summary = grid_summary(data.runs, data.staleness, data.keys)
    headers = [key.rsplit(".", 1)[-1] for key in data.keys] + ["ok/div/fail", "ergodic", "final", "staleness mean",
                                                                 "p50/p90/p99/max", "sim time", "dropped"]
    rows = []
    for row in summary.to_dict("records"):
        rows.append([*(row[key] for key in data.keys), f"{row['ok']}/{row['diverged'] + row['overflow']}/{row['failed']}",
                     _interval(row, "ergodic", wide), _interval(row, "final", wide), _number(row["staleness_mean"], 3),
                     "/".join(_number(row[f"staleness_{q}"]) for q in ("p50", "p90", "p99", "max")),
                     _number(row["sim_time"], 4), _percent(row["dropped_fraction"])])
    return table(headers, rows, markdown=wide)


def _interval(row: dict[str, Any], name: str, wide: bool) -> str:
    median = _number(row[name], 3)
    if not wide or math.isnan(row[f"{name}_low"]):
        return median
    return f"{median} [{_number(row[f'{name}_low'], 3)}, {_number(row[f'{name}_high'], 3)}]"


def _number(value: Any, digits: int = 6) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.2f}%"


def write_report(out: Path, data: SweepData) -> list[str]:
    """Write report.md and the plots into `out` (replacing the previous report: plots/ as a whole, atomically);
    returns the plot files' names."""
    figures = _figures(data)
    with staged(out / PLOTS) as staging:
        for name, figure in figures.items():
            FigureCanvasAgg(figure).print_png(staging / name)
    write_atomic(out / REPORT, _markdown(data, list(figures)).encode())
    return list(figures)


def report_paths(out: Path, keys: list[str]) -> list[Path]:
    """The longest paths write_report writes in `out` for a sweep over the grid `keys` (for check_out_dir)."""
    return [out / REPORT, _temporary(out / REPORT, LARGEST_PID),
            *staged_paths(out / PLOTS, [*map(_by_key, keys), *OVERALL_PLOTS])]


def _by_key(key: str) -> str:
    return f"by-{key}.png"


def _figures(data: SweepData) -> dict[str, Figure]:
    summary = grid_summary(data.runs, data.staleness, data.keys)
    ergodic = measure(data.runs, "ergodic")
    label = ("ergodic stationarity" if ergodic == "ergodic_stationarity" else
             r"ergodic mean of $\|\nabla f(x_k)\|^2$") + " (units$^2$)"
    figures: dict[str, Figure] = {}
    for key in data.keys:
        figure = Figure(figsize=(11, 4.2), layout="constrained")
        left, right = figure.subplots(1, 2)
        plot_against_key(left, summary, data.keys, key, "ergodic", label, band=True)
        left.set_title(f"Stationarity against {key} (median, band: interval)")
        plot_against_key(right, summary, data.keys, key, "staleness_mean",
                         "mean staleness (updates between read and apply)", band=False)
        right.set_title(f"Staleness against {key}")
        figures[_by_key(key)] = figure
    for name, draw, title in zip(OVERALL_PLOTS, (plot_staleness_distributions, plot_curves),
                                 ("Staleness distribution per grid point",
                                  "Convergence per grid point (median and range over seeds)")):
        figure = Figure(figsize=(8, 5), layout="constrained")
        ax = figure.subplots()
        source = data.staleness if name == "staleness.png" else data.curves
        if source.empty:
            ax.text(0.5, 0.5, "no finished runs yet", ha="center", transform=ax.transAxes)
        else:
            draw(ax, source, data.runs, data.keys)
        ax.set_title(title)
        figures[name] = figure
    return figures


def _markdown(data: SweepData, plots: list[str]) -> str:
    manifest = data.manifest
    state = (f"**Partial**: {len(data.runs)} of {data.planned} runs finished (the sweep was stopped; rerun its command "
             "to resume)." if data.partial else f"Complete: {data.planned} runs.")
    lines = [f"# Sweep of {manifest['scenario']}", "", state, "",
             f"- command: `{manifest.get('command') or '(Python API)'}`",
             f"- grid: {', '.join(f'`{k}` = {v}' for k, v in manifest['grid'].items()) or '(none)'}; seeds per point: "
             f"{manifest['seeds']}",
             f"- asgd {manifest.get('asgd', '')} (source digest `{manifest.get('code', '')[:16]}`)" if not data.partial
             else "- provenance of each run: the scenario_toml, asgd_version and source_hash columns of runs.parquet",
             "", "## Per grid point", "",
             "Medians over the seeds of the ok runs, with the order-statistic interval of the median "
             "([min, max] when there are fewer than 6 seeds; its coverage is the `interval_coverage` of "
             "`analysis.sweeps.grid_summary`). Staleness pools every applied gradient of the point's runs; "
             "percentiles by the inverted CDF (values that occur). `dropped`: the dropped share of the gradients the "
             "server consumed.", "", summary_table(data, wide=True), "", "## Plots", ""]
    lines += [f"![{name}]({PLOTS}/{name})" for name in plots]
    return "\n".join(lines) + "\n"


def cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    data = load_sweep(out)
    print(render(out, data, args.wide))
    return 0


def render(out: Path, data: SweepData, wide: bool = False, head: bool = True) -> str:
    """Write the report of `data` into `out` and return the text to print (`head`: with a first line saying how
    many runs it covers)."""
    plots = write_report(out, data)
    lines = [summary_table(data, wide), f"  report: {out / REPORT} and {len(plots)} plots in {out / PLOTS}"]
    if head:
        lines.insert(0, f"asgd report: {len(data.runs)} of {data.planned} runs finished (partial sweep)" if data.partial
                     else f"asgd report: {data.planned} runs")
    return "\n".join(lines)


def add_commands(commands) -> None:
    report = commands.add_parser(
        "report", help="print the summary of a sweep and write its report.md and plots again (nothing is run)",
        description="Render the per-grid-point table, report.md and plots of the sweep in DIR, finished or stopped "
                    "halfway (then from its finished runs). Exit codes: 0 done, 2 DIR is not a sweep directory.")
    report.add_argument("dir", metavar="DIR")
    report.add_argument("--wide", action="store_true", help="print the intervals and the Markdown table")
    report.set_defaults(handler=cmd_report)
