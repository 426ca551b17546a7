"""The report of `asgd check`: its grid runs analysed (analysis.*), the terminal tables, and the report directory
(report.md, runs.csv and PNG plots drawn with the Agg backend)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis import plots
from analysis.checks import Check, bound_check, rate_check, speedup_check, worker_limit_check
from analysis.speedup import cells, speedups, worker_limit
from scenarios import Scenario
from sim.frontends.rundir import staged
from sim.frontends.tables import table

PLOTS = ("staleness.png", "rate.png", "speedup.png", "worker_limit.png")
FILES = ("report.md", "runs.csv", *PLOTS)  # the report directory's

RUN_COLUMNS = ["workers", "iterations", "seed", "status", "step_value", "ergodic_grad_norm_sq", "ergodic_stationarity",
               "evaluations", "weighted_ergodic_grad_norm_sq", "bound", "bound_statement", "bound_preconditions_hold",
               "bound_step_condition", "bound_k_condition", "theorem1_bound", "max_staleness", "mean_staleness",
               "gradients", "dropped", "sim_time", "final_loss", "wall_seconds"]


@dataclass
class Report:
    base: Scenario
    runs: pd.DataFrame                  # one row per run: its summary
    grid: pd.DataFrame                  # means over seeds per (workers, iterations)
    speedup: pd.DataFrame               # grid with speedups and efficiencies
    limits: dict[str, pd.DataFrame]     # "iteration", "time" -> W*(K)
    checks: list[Check]
    staleness: dict[str, pd.DataFrame]  # label -> staleness histogram at the largest K
    statement: str | None
    threshold: float
    wall_seconds: float

    @classmethod
    def build(cls, base: Scenario, grid_runs: list, threshold: float, tolerance: float, wall_seconds: float) -> Report:
        runs = pd.DataFrame([run.summary for run in grid_runs])
        grid = cells(runs)
        speedup = speedups(grid)
        limits = {kind: worker_limit(speedup, f"{kind}_efficiency", threshold) for kind in ("iteration", "time")}
        statements = runs["bound_statement"].dropna().unique()
        statement = str(statements[0]) if len(statements) else None
        at_w0 = grid[grid["workers"] == base.cluster.workers]
        checks = [bound_check(at_w0, statement), rate_check(at_w0, tolerance),
                  speedup_check(speedup, limits, threshold, statement is not None), worker_limit_check(limits["iteration"], tolerance)]
        k_max = runs["planned_iterations"].max()  # the grid's K: a diverged run stops short of it
        first = runs.drop_duplicates(["workers", "planned_iterations"]).index  # the first seed of each grid point
        staleness = {f"W = {runs.loc[i, 'workers']}": grid_runs[i].staleness
                     for i in first if runs.loc[i, "planned_iterations"] == k_max}
        return cls(base, runs, grid, speedup, limits, checks, staleness, statement, threshold, wall_seconds)

    @property
    def at_w0(self) -> pd.DataFrame:
        return self.grid[self.grid["workers"] == self.base.cluster.workers]

    def header(self) -> str:
        s, r = self.base, self.runs.iloc[0]
        seeds = self.runs["seed"].nunique()
        return (f"{s.name}: {s.algorithm.name}, W = {s.cluster.workers}, M = {s.algorithm.batch}, corollary step; "
                f"{r['objective']} with L = {r['smoothness']:.4g}, sigma^2 = {r['variance']:.4g}, "
                f"f* = {r['f_star']:.4g}, f(x_1) = {r['f_x0']:.4g}\n"
                f"bound: {self.statement or 'none implemented'}; measure: "
                f"{'||grad f(x)||^2' if s.algorithm.regularizer['name'] == 'none' else 'squared gradient mapping'}\n"
                f"grid: K = {_listed(self.grid['iterations'])}; W = {_listed(self.grid['workers'])}; {seeds} seeds; "
                f"{len(self.runs)} runs in {self.wall_seconds:.1f} s")

    def speedup_table(self) -> str:
        k = self.speedup["iterations"].max()
        holds = {True: "yes", False: "no" if self.statement else "n/a (no bound)"}
        rows = [(int(r.workers), int(r.max_staleness), holds[bool(r.preconditions)], f"{r.iteration_speedup:.2f}",
                 f"{r.iteration_efficiency:.2f}", f"{r.time_speedup:.2f}", f"{r.time_efficiency:.2f}")
                for r in self.speedup[self.speedup["iterations"] == k].itertuples()]
        return table(["W", "max staleness T", "Corollary 2 holds", "iteration speedup", "efficiency",
                      "time speedup", "efficiency"], rows)

    def checks_table(self) -> str:
        return table(["check", "measured", "expected", "verdict"],
                     [(c.name, c.measured, c.expected, c.verdict) for c in self.checks])

    def terminal(self) -> str:
        k = self.speedup["iterations"].max()
        return "\n\n".join([self.header(), f"speedup at K = {k} (threshold: efficiency >= {self.threshold:g})",
                            self.speedup_table(), self.checks_table()])

    def markdown(self) -> str:
        rate_rows = [(int(r.iterations), f"{r.ergodic:.4g}", f"[{r.ergodic_low:.4g}, {r.ergodic_high:.4g}]",
                      f"{r.bound:.4g}", "yes" if r.preconditions else "no", int(r.max_staleness))
                     for r in self.at_w0.itertuples()]
        limit_rows = [(int(i.iterations), _limit(i), _limit(t))
                      for i, t in zip(self.limits["iteration"].itertuples(), self.limits["time"].itertuples())]
        k = self.speedup["iterations"].max()
        return "\n\n".join([
            f"# asgd check: {self.base.name}", self.header().replace("\n", "  \n"),
            "## Checks", self.checks_table(),
            f"Bound: {self.statement or 'none'} of Lian et al. (2015) with T = the measured maximum staleness. "
            "What each check means, the statements implemented and how the ergodic average is computed: "
            "docs/checks.md in the asgd repository.",
            f"## Convergence at W = {self.base.cluster.workers} (mean ergodic average over seeds, 95% t interval)",
            table(["K", "mean ergodic average", "95% CI", "bound", "preconditions hold", "max staleness T"], rate_rows),
            "![rate](rate.png)",
            f"## Speedup at K = {k} (threshold: efficiency >= {self.threshold:g})", self.speedup_table(),
            "![speedup](speedup.png)",
            "## Worker limit W*(K)", table(["K", "W* (iteration)", "W* (time)"], limit_rows),
            "![worker limit](worker_limit.png)",
            f"## Staleness at K = {k}", "![staleness](staleness.png)",
        ]) + "\n"

    def write(self, out: Path) -> None:
        """report.md, runs.csv and the plots, written atomically to `out`."""
        with staged(out) as staging:
            (staging / "report.md").write_text(self.markdown())
            self.runs[[c for c in RUN_COLUMNS if c in self.runs]].to_csv(staging / "runs.csv", index=False)
            k = self.speedup["iterations"].max()
            drawings = {
                "staleness.png": lambda ax: plots.plot_staleness(ax, self.staleness),
                "rate.png": lambda ax: plots.plot_rate(ax, self.at_w0, self.checks[1].fit, self.statement),
                "speedup.png": lambda ax: plots.plot_speedup(ax, self.speedup[self.speedup["iterations"] == k],
                                                             self.threshold),
                "worker_limit.png": lambda ax: plots.plot_worker_limit(ax, self.limits["iteration"],
                                                                       self.checks[3].fit),
            }
            for name in PLOTS:
                draw = drawings[name]
                figure = Figure(figsize=(6.4, 4.8), layout="constrained")
                FigureCanvasAgg(figure)
                draw(figure.add_subplot())
                figure.savefig(staging / name, dpi=120)


def _listed(values: pd.Series) -> str:
    return ", ".join(str(v) for v in sorted(values.unique()))


def _limit(row) -> str:
    return f">= {row.workers_limit:g}" if row.censored else f"{row.workers_limit:.3g}"
