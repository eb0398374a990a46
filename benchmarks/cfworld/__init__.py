"""An evaluation world written apart from :mod:`appariement.synth` (no shared code), to check the
counterfactual estimators on data whose generator they were not tuned on.

See :mod:`.world` for the scenarios and :func:`.world.simulate`.
"""
from .world import SCENARIOS, STUDY_END, STUDY_START, World, simulate

__all__ = ["SCENARIOS", "STUDY_START", "STUDY_END", "World", "simulate"]
