"""Synthetic but causally honest sales worlds (sell-out, CRM, marketing spend) with their ground truth,
so every model and planner can be tested against what is known to be true.

    world = simulate(SimConfig(seed=0, scale="small"))
    world.sellout.df, world.crm, world.spend, world.truth
"""

from salesplan.simulator.config import PRESETS, SimConfig
from salesplan.simulator.truth import SimTruth
from salesplan.simulator.world import SimulatedWorld, simulate

__all__ = ["PRESETS", "SimConfig", "SimTruth", "SimulatedWorld", "simulate"]
