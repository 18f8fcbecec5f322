"""padguard: keeps a launch pad from being destroyed by its own launch.

The public API for notebooks and scripts::

    import padguard as pg
    model = pg.load("site31", "guarded")          # validated model (site + procedure + faults)
    plan = pg.compile_model(model)                  # the one executable form
    result = pg.simulate(plan, faults=["cabin.stopper:not_installed@T-60m"], seed=1)
    result.outcome, result.to_dict()
"""

from padguard.compile import Plan, compile_model
from padguard.engines.simulate import SimResult, Simulator, simulate
from padguard.model.errors import ModelError
from padguard.model.loader import Model, load

__all__ = [
    "Model",
    "ModelError",
    "Plan",
    "SimResult",
    "Simulator",
    "compile_model",
    "load",
    "simulate",
]
__version__ = "0.1.0"
