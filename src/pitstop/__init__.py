"""pitstop: the public authoring API and the FeatureStore entry point."""

from pitstop.definitions import Aggregation, Alert, BatchSource, Entity, Expect, Feature, FeatureView, TrainingSet
from pitstop.errors import PitstopError
from pitstop.runtime.feature_store import FeatureStore

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "Alert",
    "BatchSource",
    "Entity",
    "Expect",
    "Feature",
    "FeatureStore",
    "FeatureView",
    "PitstopError",
    "TrainingSet",
    "__version__",
]
