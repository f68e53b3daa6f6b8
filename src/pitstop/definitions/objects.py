"""The definition language: what feature_defs/*.py build (data, nothing else: no I/O, no Spark).

Every object is a frozen dataclass validated eagerly when it is built, so a mistake is reported
with the file and line of the call that made it. Checks that need the source schema (does the
column exist, is its type right) run at plan time, in pitstop.plan.compiler, and so does the check
that an expectation or alert names a feature of its view: a feature named after a mistyped column is
then reported once, at the column's line, not at every check that names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pitstop.definitions._validate import caller_location, check_identifier, check_str, fail
from pitstop.definitions.functions import DTYPES, FUNCTION_NAMES, FUNCTIONS
from pitstop.definitions.quality import AlertRule, Expectation, check_quality
from pitstop.definitions.windows import parse_window, window_suffix
from pitstop.errors import DefinitionError

SOURCE_FORMATS = ("parquet", "delta")
# How an Airflow run knows a source holds all of day D's events before computing D (the DAG's first task):
#   max_event_time  the newest event time in the source is >= S(D) (parquet: read from the file footers'
#                   statistics; Delta: from the per-file statistics in the transaction log)
#   delta_commit    the Delta table has a commit made at or after S(D) (Delta sources only)
#   none            do not wait
READINESS_CHECKS = ("max_event_time", "delta_commit", "none")
SCHEDULE_PRESETS = ("@daily", "@weekly", "@monthly")
RESERVED_COLUMNS = ("ds", "feature_timestamp", "event_timestamp", "created_timestamp")
DEFAULT_AGGREGATE_TTL = timedelta(days=1)


def _located(obj: object) -> None:
    object.__setattr__(obj, "location", caller_location())


def _validated(obj: Any, validate: Callable[[], None]) -> None:
    """Run a definition's checks; an error names the definition it refused (DefinitionError.subject), so
    pitstop plan can skip what uses it rather than report each use as a mistake of its own."""
    try:
        validate()
    except DefinitionError as exc:
        name = getattr(obj, "name", None)
        if exc.subject is None and isinstance(name, str):
            exc.subject = (type(obj).__name__, name)
        raise


def _tuple_of_str(what: str, fieldname: str, value: object, location: str | None) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        fail(what, f"{fieldname} must be a list of names, got {value!r} "
                   f"(write {fieldname}=[{value!r}])" if isinstance(value, str) else
                   f"{fieldname} must be a list of names, got {type(value).__name__}", location)
    return tuple(value)


@dataclass(frozen=True)
class Entity:
    """A business object features are about, identified by one or more join keys."""

    name: str
    join_keys: Sequence[str]
    description: str = ""
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validated(self, self._validate)

    def _validate(self) -> None:
        _located(self)
        what = f"Entity {self.name!r}"
        check_identifier("entity", self.name, self.location, what="Entity")
        keys = _tuple_of_str(what, "join_keys", self.join_keys, self.location)
        if not keys:
            fail(what, "join_keys is empty: give at least one key column, e.g. join_keys=['user_id']",
                 self.location)
        for key in keys:
            check_identifier("join key", key, self.location, what=f"{what} join key")
        if len(set(keys)) != len(keys):
            fail(what, f"join_keys {list(keys)} repeat a key; list each column once", self.location)
        object.__setattr__(self, "join_keys", keys)
        check_str(what, "description", self.description, self.location)


@dataclass(frozen=True)
class BatchSource:
    """Raw events (or rows of values) in parquet files/folders or a Delta table."""

    name: str
    path: str
    format: str = "parquet"
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    readiness: str = "max_event_time"
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validated(self, self._validate)

    def _validate(self) -> None:
        _located(self)
        what = f"BatchSource {self.name!r}"
        check_identifier("source", self.name, self.location, what="BatchSource")
        check_str(what, "path", self.path, self.location, allow_empty=False)
        if self.format not in SOURCE_FORMATS:
            fail(what, f"unknown format {self.format!r}; valid formats: {', '.join(SOURCE_FORMATS)}",
                 self.location)
        check_str(what, "timestamp_field", self.timestamp_field, self.location, allow_empty=False)
        if self.created_timestamp_field is not None:
            check_str(what, "created_timestamp_field", self.created_timestamp_field, self.location,
                      allow_empty=False)
            if self.created_timestamp_field == self.timestamp_field:
                fail(what, f"created_timestamp_field and timestamp_field are both "
                           f"{self.timestamp_field!r}; the created timestamp records when a row became "
                           f"known and must be its own column (or None)", self.location)
        if self.readiness not in READINESS_CHECKS:
            fail(what, f"unknown readiness {self.readiness!r}; valid checks: {', '.join(READINESS_CHECKS)}",
                 self.location)
        if self.readiness == "delta_commit" and self.format != "delta":
            fail(what, "readiness='delta_commit' needs format='delta'; a parquet source is checked with "
                       "'max_event_time' (or 'none')", self.location)


@dataclass(frozen=True)
class Aggregation:
    """A windowed aggregate: one feature per window, named {column}_{function}_{window}."""

    function: str
    column: str | None = None
    windows: Sequence[str | None] = ()
    name: str | None = None
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _located(self)
        what = f"Aggregation({self.function!r}, column={self.column!r})"
        if not isinstance(self.function, str) or self.function not in FUNCTIONS:
            fail(what, f"unknown function {self.function!r}; valid functions: "
                       f"{', '.join(FUNCTION_NAMES)}", self.location)
        spec = FUNCTIONS[self.function]
        if self.column is None and spec.needs_column:
            fail(what, f"{self.function} needs a column: Aggregation({self.function!r}, "
                       f"column='amount', windows=[...])", self.location)
        if self.column is not None:
            check_str(what, "column", self.column, self.location, allow_empty=False)
        if self.name is not None:
            check_identifier("aggregation", self.name, self.location, what=f"{what} name")
        if isinstance(self.windows, str) or not isinstance(self.windows, Sequence):
            fail(what, f"windows must be a list, got {self.windows!r} (write windows=[{self.windows!r}])",
                 self.location)
        if not self.windows:
            fail(what, "windows is empty: give at least one, e.g. windows=['1d', '7d', '30d'] "
                       "(None = lifetime)", self.location)
        days: list[int | None] = []
        for window in self.windows:
            try:
                days.append(parse_window(window))
            except ValueError as exc:
                fail(what, str(exc), self.location)
        if len(set(days)) != len(days):
            fail(what, f"windows {list(self.windows)} repeat a window; list each once", self.location)
        object.__setattr__(self, "windows", tuple(self.windows))

    @property
    def window_days(self) -> tuple[int | None, ...]:
        return tuple(parse_window(w) for w in self.windows)

    @property
    def base_name(self) -> str:
        if self.name is not None:
            return self.name
        return self.function if self.column is None else f"{self.column}_{self.function}"

    def feature_names(self) -> tuple[str, ...]:
        return tuple(f"{self.base_name}_{window_suffix(d)}" for d in self.window_days)


@dataclass(frozen=True)
class Feature:
    """A value column of a latest-value view, read as is from the source."""

    name: str
    dtype: str
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _located(self)
        check_identifier("feature", self.name, self.location, what="Feature")
        if self.dtype not in DTYPES:
            fail(f"Feature {self.name!r}", f"unknown dtype {self.dtype!r}; valid dtypes: {', '.join(DTYPES)}",
                 self.location)


def check_schedule(what: str, schedule: object, start_date: object, catchup: object, location: str | None) -> None:
    """A DAG schedule: a preset or a five-field cron line (Airflow checks the cron fields themselves)."""
    if not isinstance(schedule, str) or not (schedule in SCHEDULE_PRESETS or len(schedule.split()) == 5):
        fail(what, f"schedule must be one of {', '.join(SCHEDULE_PRESETS)} or a five-field cron line such as "
                   f"'0 6 * * *' (daily at 06:00 UTC), got {schedule!r}", location)
    if start_date is not None and (not isinstance(start_date, date) or isinstance(start_date, datetime)):
        fail(what, f"start_date must be a datetime.date (e.g. date(2026, 1, 1)) or None, got {start_date!r}",
             location)
    if not isinstance(catchup, bool):
        fail(what, f"catchup must be True or False, got {catchup!r}", location)


def _timedelta(what: str, fieldname: str, value: object, location: str | None,
               *, allow_none: bool) -> timedelta | None:
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        if value < timedelta(0):
            fail(what, f"{fieldname}={value!r} is negative; give a duration ≥ 0", location)
        return value
    fail(what, f"{fieldname} must be a datetime.timedelta (e.g. timedelta(days=2)), got {value!r}", location)


@dataclass(frozen=True)
class FeatureView:
    """Features of some entities computed from one source: windowed ``aggregations`` or latest-value
    ``features`` (exactly one of the two)."""

    name: str
    entities: Sequence[Entity]
    source: BatchSource
    aggregations: Sequence[Aggregation] | None = None
    features: Sequence[Feature] | None = None
    version: int = 1
    ttl: timedelta | None = None
    online: bool = True
    owner: str = ""
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    filter: str | None = None
    lateness: int = 0
    availability_delay: timedelta = timedelta(0)
    inclusive_cutoff: bool = False
    schedule: str = "@daily"
    start_date: date | None = None
    catchup: bool = False
    max_active_runs: int = 1
    expectations: Sequence[Expectation] = ()
    alerts: Sequence[AlertRule] = ()
    baseline_days: int = 7
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validated(self, self._validate)

    def _validate(self) -> None:
        _located(self)
        loc = self.location
        check_identifier("view", self.name, loc, what="FeatureView")
        what = f"FeatureView {self.name!r}"
        if isinstance(self.entities, Entity):
            object.__setattr__(self, "entities", (self.entities,))
        if isinstance(self.entities, str) or not isinstance(self.entities, Sequence) or not self.entities:
            fail(what, "entities must be a non-empty list of Entity objects, e.g. entities=[user]", loc)
        for entity in self.entities:
            if not isinstance(entity, Entity):
                fail(what, f"entities must hold Entity objects, got {entity!r}", loc)
        object.__setattr__(self, "entities", tuple(self.entities))
        keys = [k for e in self.entities for k in e.join_keys]
        if len(set(keys)) != len(keys):
            fail(what, f"the entities' join keys {keys} overlap; each key column may belong to one "
                       f"entity only", loc)
        if not isinstance(self.source, BatchSource):
            fail(what, f"source must be a BatchSource, got {self.source!r}", loc)
        if (self.aggregations is None) == (self.features is None):
            both = self.aggregations is not None
            fail(what, ("has both aggregations and features" if both else
                        "has neither aggregations nor features") +
                 ": give aggregations=[Aggregation(...)] for windowed aggregates OR features=[Feature(...)] "
                 "for latest values, not both", loc)
        if self.aggregations is not None:
            self._check_members(what, "aggregations", self.aggregations, Aggregation, loc)
        else:
            assert self.features is not None
            self._check_members(what, "features", self.features, Feature, loc)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            fail(what, f"version must be an integer ≥ 1, got {self.version!r}", loc)
        _timedelta(what, "ttl", self.ttl, loc, allow_none=True)
        if self.ttl is not None and self.ttl <= timedelta(0):
            fail(what, f"ttl={self.ttl!r} must be positive (or None for the default)", loc)
        _timedelta(what, "availability_delay", self.availability_delay, loc, allow_none=False)
        if not isinstance(self.online, bool):
            fail(what, f"online must be True or False, got {self.online!r}", loc)
        check_str(what, "owner", self.owner, loc)
        check_str(what, "description", self.description, loc)
        if not isinstance(self.tags, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items()):
            fail(what, f"tags must be a dict of strings to strings, got {self.tags!r}", loc)
        object.__setattr__(self, "tags", dict(self.tags))
        if self.filter is not None:
            check_str(what, "filter", self.filter, loc, allow_empty=False)
        if isinstance(self.lateness, bool) or not isinstance(self.lateness, int) or self.lateness < 0:
            fail(what, f"lateness must be a whole number of days ≥ 0, got {self.lateness!r}", loc)
        if not isinstance(self.inclusive_cutoff, bool):
            fail(what, f"inclusive_cutoff must be True or False, got {self.inclusive_cutoff!r}", loc)
        if self.inclusive_cutoff and self.features is None:
            fail(what, "inclusive_cutoff applies to latest-value views (features=[...]); an aggregate's snapshot "
                       "at S(D) never holds events at or after S(D)", loc)
        if self.features is not None and self.lateness:
            fail(what, "lateness applies to aggregations only; a latest-value view copies each day's rows",
                 loc)
        check_schedule(what, self.schedule, self.start_date, self.catchup, loc)
        if isinstance(self.max_active_runs, bool) or not isinstance(self.max_active_runs, int) \
                or self.max_active_runs < 1:
            fail(what, f"max_active_runs must be a whole number ≥ 1, got {self.max_active_runs!r} (1 keeps one "
                       f"writer per table: runs of a view never race on its Delta tables)", loc)
        names = self.feature_names()
        seen: dict[str, int] = {}
        for n in names:
            seen[n] = seen.get(n, 0) + 1
        dupes = sorted(n for n, c in seen.items() if c > 1)
        if dupes:
            fail(what, f"feature name(s) {dupes} are produced more than once; give one of the "
                       f"aggregations a distinct name= or drop the repeated window", loc)
        for feature_name in names:
            try:
                check_identifier("feature", feature_name, loc, what=f"{what} feature")
            except DefinitionError as exc:
                raise DefinitionError(f"{exc.detail}; this name is built from the column, so give the "
                                      f"aggregation a valid name= (the window suffix is added)", loc) from None
        clash = sorted(set(names) & (set(keys) | set(RESERVED_COLUMNS)))
        if clash:
            fail(what, f"feature name(s) {clash} clash with a join key or a reserved column "
                       f"({', '.join(RESERVED_COLUMNS)}); rename them with name=", loc)
        exps, rules = check_quality(what, self.expectations, self.alerts, self.baseline_days, loc)
        object.__setattr__(self, "expectations", exps)
        object.__setattr__(self, "alerts", rules)

    @staticmethod
    def _check_members(what: str, fieldname: str, value: object, kind: type[Any], loc: str | None) -> None:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            fail(what, f"{fieldname} must be a non-empty list of {kind.__name__} objects", loc)
        for item in value:
            if not isinstance(item, kind):
                fail(what, f"{fieldname} must hold {kind.__name__} objects, got {item!r}", loc)

    @property
    def is_aggregate(self) -> bool:
        return self.aggregations is not None

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(k for e in self.entities for k in e.join_keys)

    @property
    def effective_ttl(self) -> timedelta | None:
        if self.ttl is not None:
            return self.ttl
        return DEFAULT_AGGREGATE_TTL if self.is_aggregate else None

    def feature_names(self) -> tuple[str, ...]:
        if self.aggregations is not None:
            return tuple(n for a in self.aggregations for n in a.feature_names())
        assert self.features is not None
        return tuple(f.name for f in self.features)


TRAINING_FORMATS = ("parquet", "delta")


@dataclass(frozen=True)
class TrainingSet:
    """A training set rebuilt by Airflow whenever its views publish a new day: a Spark SQL spine joined point
    in time with ``features`` ("view:feature") and written under ``output`` (one folder per run, each with
    its manifest)."""

    name: str
    spine_sql: str
    features: Sequence[str]
    output: str
    format: str = "parquet"
    timestamp_column: str = "event_timestamp"
    full_feature_names: bool = False
    owner: str = ""
    description: str = ""
    location: str | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validated(self, self._validate)

    def _validate(self) -> None:
        _located(self)
        loc = self.location
        check_identifier("training set", self.name, loc, what="TrainingSet")
        what = f"TrainingSet {self.name!r}"
        check_str(what, "spine_sql", self.spine_sql, loc, allow_empty=False)
        refs = _tuple_of_str(what, "features", self.features, loc)
        if not refs:
            fail(what, "features is empty: list them as 'view:feature', e.g. ['user_transactions:count_7d']", loc)
        for ref in refs:
            view, sep, feature = ref.partition(":") if isinstance(ref, str) else ("", "", "")
            if not sep or not view or not feature or ":" in feature:
                fail(what, f"bad feature reference {ref!r}: write it as view:feature, e.g. "
                           f"'user_transactions:amount_sum_7d'", loc)
        if len(set(refs)) != len(refs):
            fail(what, f"features {list(refs)} repeat a feature; list each once", loc)
        object.__setattr__(self, "features", refs)
        check_str(what, "output", self.output, loc, allow_empty=False)
        if self.format not in TRAINING_FORMATS:
            fail(what, f"unknown format {self.format!r}; valid formats: {', '.join(TRAINING_FORMATS)}", loc)
        check_str(what, "timestamp_column", self.timestamp_column, loc, allow_empty=False)
        if not isinstance(self.full_feature_names, bool):
            fail(what, f"full_feature_names must be True or False, got {self.full_feature_names!r}", loc)
        check_str(what, "owner", self.owner, loc)
        check_str(what, "description", self.description, loc)

    @property
    def views(self) -> tuple[str, ...]:
        """The views it reads, in first-mention order."""
        return tuple(dict.fromkeys(ref.partition(":")[0] for ref in self.features))
