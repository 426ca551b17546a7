"""Front ends of the engine: the `asgd` command line (cli) and what its commands are built from (run directories,
sweeps with their store and executors, check, bench, progress, tables)."""
