"""PURE definition objects imported by feature_defs (no I/O, no Spark, no environment reads)."""

from pitstop.definitions.functions import DTYPES, FUNCTION_NAMES, FUNCTIONS
from pitstop.definitions.objects import Aggregation, BatchSource, Entity, Feature, FeatureView, TrainingSet

DEFINITION_TYPES = (Entity, BatchSource, FeatureView, TrainingSet)

__all__ = [
    "DEFINITION_TYPES",
    "DTYPES",
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "Aggregation",
    "BatchSource",
    "Entity",
    "Feature",
    "FeatureView",
    "TrainingSet",
]
