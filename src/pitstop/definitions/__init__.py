"""PURE definition objects imported by feature_defs (no I/O, no Spark, no environment reads)."""

from pitstop.definitions.functions import DTYPES, FUNCTION_NAMES, FUNCTIONS
from pitstop.definitions.objects import Aggregation, BatchSource, Entity, Feature, FeatureView, TrainingSet
from pitstop.definitions.quality import Alert, AlertRule, Expect, Expectation

DEFINITION_TYPES = (Entity, BatchSource, FeatureView, TrainingSet)

__all__ = [
    "DEFINITION_TYPES",
    "DTYPES",
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "Aggregation",
    "Alert",
    "AlertRule",
    "BatchSource",
    "Entity",
    "Expect",
    "Expectation",
    "Feature",
    "FeatureView",
    "TrainingSet",
]
