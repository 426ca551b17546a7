"""Pure DataFrame -> numbers: rates, bounds, speedup, worker limit, plots. Never imports simpy."""
