"""The benchmark objectives by scenario name."""

from __future__ import annotations

from models.base import Objective
from models.logistic import NonconvexLogistic
from models.mlp import MLP
from models.phase_retrieval import PhaseRetrieval
from models.robust import RobustRegression
from models.rosenbrock import NoisyRosenbrock

OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (NonconvexLogistic, RobustRegression, NoisyRosenbrock, MLP, PhaseRetrieval)
}
