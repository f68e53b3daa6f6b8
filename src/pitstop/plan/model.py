"""The compiled plan, typed: what the compiler produces and every job, DAG and reader reads.

The plan file (dags/pitstop_plan.json) is plain JSON; these frozen dataclasses are its in-memory form.
Dicts exist only at the JSON boundary: ``Plan.from_json`` / ``Plan.to_json`` (and the same pair on each
part) convert, and ``to_json(from_json(x)) == x`` for every plan the compiler writes, so the file stays
byte-identical. ``load`` checks the schema version: a plan written by a newer pitstop is refused with a
message that says so.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from pitstop.errors import PlanError
from pitstop.jsontypes import JSON, JSONObject
from pitstop.plan import naming

SCHEMA_VERSION = 1

Severity = Literal["error", "warning"]


def _mapping(raw: JSON, what: str) -> Mapping[str, JSON]:
    if not isinstance(raw, dict):
        raise PlanError(f"the plan's {what} is not a JSON object; run `pitstop apply` to recompile the plan")
    return raw


@dataclass(frozen=True)
class Entity:
    name: str
    join_keys: tuple[str, ...]
    description: str | None

    @classmethod
    def from_json(cls, name: str, raw: JSON) -> Entity:
        return cls(name, tuple(raw["join_keys"]), raw["description"])

    def to_json(self) -> JSONObject:
        return {"join_keys": list(self.join_keys), "description": self.description}


@dataclass(frozen=True)
class Source:
    """A batch source as the plan records it: where it is and the column types learned from it."""

    name: str
    path: str
    format: str
    timestamp_field: str
    created_timestamp_field: str | None
    schema: Mapping[str, str]

    @classmethod
    def from_json(cls, name: str, raw: JSON) -> Source:
        return cls(name, raw["path"], raw["format"], raw["timestamp_field"], raw["created_timestamp_field"],
                   dict(raw["schema"]))

    def to_json(self) -> JSONObject:
        return {"path": self.path, "format": self.format, "timestamp_field": self.timestamp_field,
                "created_timestamp_field": self.created_timestamp_field, "schema": dict(self.schema)}


@dataclass(frozen=True)
class ViewSource:
    """The source of one view: the columns the view uses, and the readiness rule its days wait for."""

    name: str
    path: str
    format: str
    timestamp_field: str
    created_timestamp_field: str | None
    columns: Mapping[str, str]
    readiness: str

    @classmethod
    def from_json(cls, raw: JSON) -> ViewSource:
        return cls(raw["name"], raw["path"], raw["format"], raw["timestamp_field"], raw["created_timestamp_field"],
                   dict(raw["columns"]), raw["readiness"])

    def to_json(self) -> JSONObject:
        return {"name": self.name, "path": self.path, "format": self.format,
                "timestamp_field": self.timestamp_field, "created_timestamp_field": self.created_timestamp_field,
                "columns": dict(self.columns), "readiness": self.readiness}


@dataclass(frozen=True)
class JoinKey:
    name: str
    dtype: str

    def to_json(self) -> JSONObject:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class Feature:
    """A feature of a view. Aggregate features carry their function, column and window; a latest-value
    feature only its name and type."""

    name: str
    dtype: str
    function: str | None = None
    column: str | None = None
    window: str | None = None
    window_days: int | None = None  # None: a lifetime window
    empty_value: str | None = None  # the value of an empty window ("0", "null")

    @property
    def is_aggregate(self) -> bool:
        return self.function is not None

    @property
    def aggregate_function(self) -> str:
        """The aggregation function of an aggregate view's feature."""
        if self.function is None:
            raise PlanError(f"feature {self.name!r} is a latest value, not an aggregate; run `pitstop apply` to "
                            f"recompile the plan")
        return self.function

    @classmethod
    def from_json(cls, raw: JSON) -> Feature:
        if "function" not in raw:
            return cls(raw["name"], raw["dtype"])
        return cls(raw["name"], raw["dtype"], raw["function"], raw["column"], raw["window"], raw["window_days"],
                   raw["empty_value"])

    def to_json(self) -> JSONObject:
        if self.function is None:
            return {"name": self.name, "dtype": self.dtype}
        return {"name": self.name, "function": self.function, "column": self.column, "window": self.window,
                "window_days": self.window_days, "dtype": self.dtype, "empty_value": self.empty_value}


@dataclass(frozen=True)
class Tables:
    """The view's Delta tables, relative to the offline store: snapshots and tiles for an aggregate view,
    the copied rows (``latest``) for a latest-value view."""

    snapshots: str | None = None
    tiles: str | None = None
    latest: str | None = None

    @property
    def output(self) -> str:
        """The table readers join against: the snapshots, or the latest-value rows."""
        out = self.snapshots or self.latest
        if out is None:
            raise PlanError("a view in the plan names no output table; run `pitstop apply` to recompile the plan")
        return out

    @classmethod
    def from_json(cls, raw: JSON) -> Tables:
        return cls(raw.get("snapshots"), raw.get("tiles"), raw.get("latest"))

    def to_json(self) -> JSONObject:
        return {k: v for k, v in (("snapshots", self.snapshots), ("tiles", self.tiles), ("latest", self.latest))
                if v is not None}


@dataclass(frozen=True)
class DagSpec:
    schedule: str
    start_date: date | None
    catchup: bool
    max_active_runs: int

    @classmethod
    def from_json(cls, raw: JSON) -> DagSpec:
        start = raw["start_date"]
        return cls(raw["schedule"], None if start is None else date.fromisoformat(start), raw["catchup"],
                   raw["max_active_runs"])

    def to_json(self) -> JSONObject:
        return {"schedule": self.schedule, "start_date": None if self.start_date is None else
                self.start_date.isoformat(),
                "catchup": self.catchup, "max_active_runs": self.max_active_runs}


@dataclass(frozen=True)
class Check:
    """One check of the validation gate: a Great Expectations expectation (or a pitstop check such as
    ``avg_within_bound``) with its arguments, the feature it is about, and whether it blocks publishing."""

    type: str
    kwargs: Mapping[str, JSON]
    feature: str | None
    label: str
    severity: Severity
    origin: str  # "builtin" | "declared"

    @classmethod
    def from_json(cls, raw: JSON) -> Check:
        return cls(raw["type"], dict(raw["kwargs"]), raw["feature"], raw["label"], raw["severity"], raw["origin"])

    def to_json(self) -> JSONObject:
        return {"type": self.type, "kwargs": dict(self.kwargs), "feature": self.feature, "severity": self.severity,
                "label": self.label, "origin": self.origin}


@dataclass(frozen=True)
class AlertRule:
    """A drift/null alert threshold of one feature: alert when the metric exceeds ``max``."""

    max: float
    severity: Severity
    origin: str  # "default" | "declared"

    def to_json(self) -> JSONObject:
        return {"max": self.max, "severity": self.severity, "origin": self.origin}


@dataclass(frozen=True)
class SchemaRule:
    severity: Severity
    origin: str

    def to_json(self) -> JSONObject:
        return {"severity": self.severity, "origin": self.origin}


@dataclass(frozen=True)
class Monitoring:
    baseline_days: int
    bins: int
    min_rows: int
    alerts: Mapping[str, Mapping[str, AlertRule]]  # feature -> metric -> rule
    schema: SchemaRule

    @classmethod
    def from_json(cls, raw: JSON) -> Monitoring:
        alerts = {feature: {metric: AlertRule(r["max"], r["severity"], r["origin"]) for metric, r in rules.items()}
                  for feature, rules in raw["alerts"].items()}
        return cls(raw["baseline_days"], raw["bins"], raw["min_rows"], alerts,
                   SchemaRule(raw["schema"]["severity"], raw["schema"]["origin"]))

    def to_json(self) -> JSONObject:
        return {"baseline_days": self.baseline_days, "bins": self.bins, "min_rows": self.min_rows,
                "alerts": {f: {m: r.to_json() for m, r in rules.items()} for f, rules in self.alerts.items()},
                "schema": self.schema.to_json()}


@dataclass(frozen=True)
class View:
    """A compiled feature view: everything its jobs, DAG, validation and readers need."""

    name: str
    kind: Literal["aggregate", "latest"]
    version: int
    entities: tuple[str, ...]
    join_keys: tuple[JoinKey, ...]
    source: ViewSource
    filter: str | None
    lateness_days: int
    features: tuple[Feature, ...]
    max_window_days: int | None
    ttl_seconds: int | None
    availability_delay_seconds: int | None
    inclusive_cutoff: bool
    online: bool
    owner: str | None
    description: str | None
    tags: Mapping[str, str]
    tables: Tables
    dag_id: str
    dag: DagSpec
    suite: tuple[Check, ...]
    monitoring: Monitoring
    data_fingerprint: str
    metadata_fingerprint: str

    @property
    def is_aggregate(self) -> bool:
        return self.kind == "aggregate"

    @property
    def key_names(self) -> list[str]:
        return [k.name for k in self.join_keys]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def timestamp_column(self) -> str:
        """The time column of the view's output table: when each row's values became known."""
        return "feature_timestamp" if self.is_aggregate else "event_timestamp"

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise PlanError(f"view {self.name!r} has no feature {name!r}{_did_you_mean(name, self.feature_names)}; "
                        f"its features: {', '.join(self.feature_names)}")

    @property
    def log_table(self) -> str:
        return naming.log_table(self.name, self.version)

    @property
    def lifetime_state_table(self) -> str:
        return naming.lifetime_state_table(self.name, self.version)

    @property
    def stats_table(self) -> str:
        return naming.stats_table(self.name, self.version)

    @classmethod
    def from_json(cls, name: str, raw: JSON) -> View:
        return cls(
            name=name, kind=raw["kind"], version=raw["version"], entities=tuple(raw["entities"]),
            join_keys=tuple(JoinKey(k["name"], k["dtype"]) for k in raw["join_keys"]),
            source=ViewSource.from_json(raw["source"]), filter=raw["filter"], lateness_days=raw["lateness_days"],
            features=tuple(Feature.from_json(f) for f in raw["features"]), max_window_days=raw["max_window_days"],
            ttl_seconds=raw["ttl_seconds"], availability_delay_seconds=raw["availability_delay_seconds"],
            inclusive_cutoff=raw["inclusive_cutoff"], online=raw["online"], owner=raw["owner"],
            description=raw["description"], tags=dict(raw["tags"]), tables=Tables.from_json(raw["tables"]),
            dag_id=raw["dag_id"], dag=DagSpec.from_json(raw["dag"]),
            suite=tuple(Check.from_json(c) for c in raw["validation"]["suite"]),
            monitoring=Monitoring.from_json(raw["monitoring"]), data_fingerprint=raw["data_fingerprint"],
            metadata_fingerprint=raw["metadata_fingerprint"])

    def to_json(self) -> JSONObject:
        return {
            "kind": self.kind, "version": self.version, "entities": list(self.entities),
            "join_keys": [k.to_json() for k in self.join_keys], "source": self.source.to_json(),
            "filter": self.filter, "lateness_days": self.lateness_days,
            "features": [f.to_json() for f in self.features], "max_window_days": self.max_window_days,
            "ttl_seconds": self.ttl_seconds, "availability_delay_seconds": self.availability_delay_seconds,
            "inclusive_cutoff": self.inclusive_cutoff, "online": self.online, "owner": self.owner,
            "description": self.description, "tags": dict(self.tags), "tables": self.tables.to_json(),
            "dag_id": self.dag_id, "dag": self.dag.to_json(),
            "validation": {"suite": [c.to_json() for c in self.suite]}, "monitoring": self.monitoring.to_json(),
            "data_fingerprint": self.data_fingerprint, "metadata_fingerprint": self.metadata_fingerprint,
        }


@dataclass(frozen=True)
class TrainingSetSpec:
    """A training set as compiled: its spine query, the features it joins, and where it is written."""

    name: str
    spine_sql: str
    features: tuple[str, ...]  # "view:feature" references
    views: tuple[str, ...]
    output: str
    format: str
    timestamp_column: str
    full_feature_names: bool
    owner: str | None
    description: str | None
    dag_id: str

    @classmethod
    def from_json(cls, name: str, raw: JSON) -> TrainingSetSpec:
        return cls(name, raw["spine_sql"], tuple(raw["features"]), tuple(raw["views"]), raw["output"], raw["format"],
                   raw["timestamp_column"], raw["full_feature_names"], raw["owner"], raw["description"],
                   raw["dag_id"])

    def to_json(self) -> JSONObject:
        return {"spine_sql": self.spine_sql, "features": list(self.features), "views": list(self.views),
                "output": self.output, "format": self.format, "timestamp_column": self.timestamp_column,
                "full_feature_names": self.full_feature_names, "owner": self.owner,
                "description": self.description, "dag_id": self.dag_id}


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Plan:
    """The compiled plan of a project."""

    project: str
    entities: Mapping[str, Entity]
    sources: Mapping[str, Source]
    views: Mapping[str, View]
    training_sets: Mapping[str, TrainingSetSpec]
    fingerprint: str
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)  # the file it was read from, for messages

    def view(self, name: str) -> View:
        """The view of that name; an error that names the views there are (and the closest) otherwise."""
        if name not in self.views:
            close = difflib.get_close_matches(name, list(self.views), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PlanError(f"unknown view {name!r}.{hint} Views in the plan: "
                            f"{', '.join(sorted(self.views)) or 'none'}")
        return self.views[name]

    @classmethod
    def from_json(cls, raw: JSON, path: Path | None = None) -> Plan:
        data = _mapping(raw, "top level")
        try:
            return cls(
                project=data["project"],
                entities={n: Entity.from_json(n, e) for n, e in _mapping(data["entities"], "entities").items()},
                sources={n: Source.from_json(n, s) for n, s in _mapping(data["sources"], "sources").items()},
                views={n: View.from_json(n, v) for n, v in _mapping(data["views"], "views").items()},
                training_sets={n: TrainingSetSpec.from_json(n, t)
                               for n, t in _mapping(data["training_sets"], "training_sets").items()},
                fingerprint=data["fingerprint"], schema_version=data["schema_version"], path=path)
        except (KeyError, TypeError, ValueError) as exc:
            where = path or "the plan"
            raise PlanError(f"{where} is incomplete or malformed ({type(exc).__name__}: {exc}); restore it from "
                            f"version control, or run `pitstop apply` to compile it again") from None

    def to_json(self) -> JSONObject:
        return {
            "schema_version": self.schema_version, "project": self.project,
            "entities": {n: e.to_json() for n, e in self.entities.items()},
            "sources": {n: s.to_json() for n, s in self.sources.items()},
            "views": {n: v.to_json() for n, v in self.views.items()},
            "training_sets": {n: t.to_json() for n, t in self.training_sets.items()},
            "fingerprint": self.fingerprint,
        }

    def render(self) -> str:
        return render_json(self.to_json())


def render_json(data: JSONObject) -> str:
    """The plan file's text: sorted keys, two-space indent, UTF-8 as is, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_json(path: Path) -> JSONObject | None:
    """A plan file's JSON, or None when there is none; an error that says what to do when it is not a plan
    this pitstop can read."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path} is not valid JSON ({exc}); restore it from version control or delete "
                        f"it and run `pitstop apply`") from exc
    if not isinstance(data, dict) or "views" not in data:
        raise PlanError(f"{path} is not a pitstop plan (no 'views'); delete it and run `pitstop apply`")
    check_schema_version(data, path)
    return data


def read(path: Path) -> Plan | None:
    """The plan in a plan file, or None when there is none."""
    data = read_json(path)
    return None if data is None else Plan.from_json(data, path)


def check_schema_version(data: JSON, path: Path) -> None:
    """Refuse a plan this pitstop cannot read, saying which pitstop wrote it and what to do."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version == SCHEMA_VERSION:
        return
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise PlanError(f"{path} has plan schema_version {version}; this pitstop reads {SCHEMA_VERSION}: the file was "
                        f"written by a newer pitstop. Upgrade pitstop (pip install -U pitstop), or move the file aside "
                        f"and run `pitstop apply` to compile a fresh plan with this release")
    raise PlanError(f"{path} has plan schema_version {version!r}; this pitstop reads {SCHEMA_VERSION}: use "
                    f"the pitstop release that wrote it, or move the file aside and run `pitstop apply` to "
                    f"compile a fresh plan (compare the two before committing)")
