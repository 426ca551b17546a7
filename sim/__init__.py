"""The discrete-event engine: simulated clusters running asynchronous SGD.

`from sim import simulate` loads SimPy; the replay (sim.replay) and the math modules never do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Result", "simulate", "simulate_batch", "simulate_replicates"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sim import engine

        return getattr(engine, name)
    raise AttributeError(name)
