"""The simulated cluster's randomness: per-purpose, per-worker streams (streams) and the workers' clocks and sample
draws built on them (workers). No SimPy here."""
