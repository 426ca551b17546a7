import os
import pathlib
import sys

from hypothesis import settings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

# Under CI (CI=true) every run draws the same examples, so a red build points at a change, not at a draw; elsewhere
# each run draws afresh, which is how the property tests keep finding new cases.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
