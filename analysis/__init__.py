"""Pure DataFrame -> numbers: rates, bounds, speedup, worker limit, plots. Never imports simpy.

- `analysis.bounds`: Theorem 1 and Corollary 2 of Lian et al. (2015), the ergodic averages they bound.
- `analysis.stats`: t intervals and log-log fits with an interval on the slope.
- `analysis.speedup`: means over seeds, iteration and time speedups, the worker limit W*(K).
- `analysis.plots`: the figures of `asgd check` and of the notebook.
"""
