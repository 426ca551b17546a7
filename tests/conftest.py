import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import os  # noqa: E402

# One BLAS thread, set before numpy loads, as the `asgd` command does (sim/cli.py): in-process runs then give the same
# bits as sweep worker processes and Dask workers (some objectives' constants depend on the BLAS thread count).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
