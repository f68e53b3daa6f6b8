"""Online reads: get_online_features over the published snapshots (docs/semantics.md, Online reads).

Per view, the values of the latest published snapshot D_pub; a key without a row there has the
empty-window values (0 for count-likes, null otherwise), as offline; a view with nothing published has
null for every feature and stale=True, never 0. One pipelined round trip for every view and entity.
"""

from __future__ import annotations

import functools
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pitstop.config import Config, redact_url
from pitstop.errors import ConnectionFailed, PlanError, UsageError
from pitstop.jsontypes import JSONObject
from pitstop.plan import naming
from pitstop.plan.model import Feature, Plan, View
from pitstop.runtime.catalog import resolve_features
from pitstop.runtime.context import Context
from pitstop.stores import online

if TYPE_CHECKING:
    import pandas as pd

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_CACHED_ASKS = 1024  # parsed feature lists a reader keeps


@dataclass(frozen=True)
class ViewMetadata:
    """Per view: the published ds, its snapshot time S(ds), the Delta version, and whether it is stale."""

    view: str
    version: int
    ds: date | None
    snapshot_time: datetime | None
    delta_version: int | None
    stale: bool
    generation: int | None = None

    def to_dict(self) -> JSONObject:
        return {"view": self.view, "version": self.version, "ds": self.ds.isoformat() if self.ds else None,
                "snapshot_time": self.snapshot_time.isoformat() if self.snapshot_time else None,
                "delta_version": self.delta_version, "stale": self.stale}


@dataclass
class OnlineResponse:
    """Columns in order (join keys, then features) with one value per entity row, like Feast's."""

    columns: dict[str, list[Any]]
    metadata: dict[str, ViewMetadata] = field(default_factory=dict)

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.columns.items()}

    def to_list(self) -> list[JSONObject]:
        names = list(self.columns)
        count = len(next(iter(self.columns.values()))) if self.columns else 0
        return [{name: self.columns[name][i] for name in names} for i in range(count)]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns)


@dataclass(frozen=True)
class _ViewAsk:
    name: str
    entry: View
    features: list[tuple[int, str]]  # (position in the view's values, output column)
    keys: online.ViewKeys

    @functools.cached_property
    def key_names(self) -> list[str]:
        return [k.name for k in self.entry.join_keys]

    @functools.cached_property
    def schema(self) -> str:
        return online.schema_id(self.entry)

    @functools.cached_property
    def columns(self) -> list[tuple[int, str, str, Any]]:
        """(position, output column, dtype, empty-window value) per asked feature."""
        offset = 1 if self.entry.kind == "latest" else 0
        out = []
        for position, column in self.features:
            feature = self.entry.features[position - offset]
            out.append((position, column, str(feature.dtype), empty_value(feature)))
        return out


def parse_features(plan: Plan, refs: Sequence[str], full_names: bool) -> list[_ViewAsk]:
    """"view:feature" references grouped by view (in first-seen order), checked against the plan."""
    asks = []
    for view in resolve_features(plan, refs, full_names):
        if not view.entry.online:
            raise UsageError(f"view {view.name!r} is not served online (online=False in its definition)")
        names = [f.name for f in view.entry.features]
        offset = 1 if view.entry.kind == "latest" else 0  # latest-value rows start with their event time
        asks.append(_ViewAsk(view.name, view.entry, [(names.index(f) + offset, c) for f, c in view.features],
                             online.ViewKeys.of(plan.project, view.name, int(view.entry.version))))
    return asks


def join_key_types(asks: list[_ViewAsk]) -> dict[str, str]:
    types: dict[str, str] = {}
    for ask in asks:
        for key in ask.entry.join_keys:
            if types.setdefault(key.name, key.dtype) != key.dtype:
                raise PlanError(f"join key {key.name!r} is {types[key.name]} in one view and {key.dtype} "
                                f"in {ask.name!r}; read these views separately")
    return types


def check_entity(row: Mapping[str, Any], index: int, types: dict[str, str]) -> None:
    """One entity row against the join keys' types in the plan: int64 keys take ints within int64's range,
    string keys take valid Unicode text."""
    if not isinstance(row, Mapping):
        raise UsageError(f"entity row {index}: expected a mapping like {{'user_id': 1}}, got {type(row).__name__}")
    for name, dtype in types.items():
        if name not in row:
            raise UsageError(f"entity row {index} has no {name!r}; the views asked for need the join key(s) "
                             f"{', '.join(types)}")
        value = row[name]
        ok = (isinstance(value, int) and not isinstance(value, bool)) if dtype == "int64" else isinstance(value, str)
        if not ok:
            want = "an int" if dtype == "int64" else "a str"
            raise UsageError(f"entity row {index}: {name}={short_repr(value)} ({type(value).__name__}) must be "
                             f"{want}: the join key's type in the plan is {dtype}")
        if dtype == "int64" and not INT64_MIN <= value <= INT64_MAX:
            raise UsageError(f"entity row {index}: {name}={short_repr(value)} is outside the range of the join "
                             f"key {name!r}, int64 in the plan: [{INT64_MIN}, {INT64_MAX}]")
        if dtype != "int64" and not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError as exc:
                raise UsageError(f"entity row {index}: {name}={short_repr(value)} is not valid Unicode text "
                                 f"({exc.reason} at character {exc.start})") from None


def check_count(count: int, limit: int) -> None:
    if count > limit:
        raise UsageError(f"{count:,} entities in one request; the limit is {limit:,} (online_store.max_entities "
                         f"in pitstop.yaml): split the request")


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        return repr(x) if x.bit_length() <= 128 else f"<an integer of {x.bit_length():,} bits>"


_SHORT = _ShortRepr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 60, 60


def short_repr(value: Any) -> str:
    """A value as an error message shows it: bounded in length and depth, whatever a request sent."""
    return _SHORT.repr(value)


class OnlineReader:
    """Reads for one plan over one pooled Redis client; keep it for many requests (a server, a model)."""

    def __init__(self, config: Config, plan: Plan, *, one_shot: bool = False) -> None:
        """``one_shot``: for a read or two in a short-lived process (`pitstop get`): a plain redis:// or unix://
        URL is then read with ``redis_lite``'s socket client, without importing redis-py."""
        from pitstop.stores.redis_client import connect
        from pitstop.stores.redis_lite import connect_lite

        self.config, self.plan = config, plan
        lite = connect_lite(config.online_store_url) if one_shot else None
        self.client: Any = lite if lite is not None else connect(config.online_store_url)  # redis-py or lite
        self._asks: dict[tuple[tuple[str, ...], bool], tuple[list[_ViewAsk], dict[str, str]]] = {}

    def close(self) -> None:
        self.client.close()

    def _parsed(self, features: Sequence[str], full_names: bool) -> tuple[list[_ViewAsk], dict[str, str]]:
        key = (tuple(features) if not isinstance(features, str) else (features,), full_names)
        if key not in self._asks:
            asks = parse_features(self.plan, features, full_names)
            if len(self._asks) >= MAX_CACHED_ASKS:  # requests name any list of features: keep memory bounded
                self._asks.clear()
            self._asks[key] = (asks, join_key_types(asks))
        return self._asks[key]

    def published(self, view: str, now: datetime | None = None) -> ViewMetadata:
        """What is published for a view (its current version): ds, snapshot time, Delta version, staleness."""
        from pitstop.stores.redis_client import error_name, is_connection_error

        entry = self.plan.views[view]
        keys = online.ViewKeys.of(self.plan.project, view, int(entry.version))
        try:
            published = online.current(self.client, keys)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            raise ConnectionFailed(f"cannot read what is published: Redis at "
                                   f"{redact_url(self.config.online_store_url)} ({error_name(exc)})") from exc
        return _metadata(view, entry, published, now or datetime.now(UTC))

    def read(self, features: Sequence[str], entity_rows: Sequence[Mapping[str, Any]], *,
             full_feature_names: bool = False, now: datetime | None = None) -> OnlineResponse:
        from pitstop.stores.redis_client import error_name, is_connection_error

        asks, types = self._parsed(features, full_feature_names)
        rows = entity_rows if isinstance(entity_rows, list) else list(entity_rows)
        check_count(len(rows), self.config.max_entities)
        for i, row in enumerate(rows):
            check_entity(row, i, types)
        now = now or datetime.now(UTC)
        requests = []
        for ask in asks:
            key_names = ask.key_names
            requests.append((ask.keys, [naming.entity_field([row[k] for k in key_names]) for row in rows]))
        try:
            replies = online.read_views(self.client, requests)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            raise ConnectionFailed(f"cannot read online features: Redis at "
                                   f"{redact_url(self.config.online_store_url)} ({error_name(exc)}); retry, "
                                   f"or check `pitstop doctor`") from exc
        columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in types}
        metadata: dict[str, ViewMetadata] = {}
        for ask, reply in zip(asks, replies, strict=True):
            metadata[ask.name] = _fill(ask, reply, len(rows), now, columns)
        return OnlineResponse(columns, metadata)


def _fill(ask: _ViewAsk, reply: online.ViewRead, count: int, now: datetime, columns: dict[str, list[Any]]) \
        -> ViewMetadata:
    """Decode one view's reply into ``columns``; returns the view's metadata."""
    entry = ask.entry
    published = reply.published
    if published is None:
        for _, column, _, _ in ask.columns:
            columns[column] = [None] * count
        return _metadata(ask.name, entry, None, now)
    if published.schema != ask.schema:
        raise PlanError(f"view {ask.name!r} v{entry.version} in Redis was published with schema "
                        f"{published.schema!r}, the plan says {ask.schema!r}: the plan changed values without a "
                        f"version bump, or this plan is not the one published. Use the applied plan, or bump "
                        f"the version and publish")
    decoded = [_decode(entry, raw, now) for raw in reply.values]
    for position, column, dtype, empty in ask.columns:
        if dtype in ("timestamp", "date", "float64"):
            columns[column] = [empty if values is None else _typed(values[position], dtype) for values in decoded]
        else:
            columns[column] = [empty if values is None else values[position] for values in decoded]
    return _metadata(ask.name, entry, published, now)


def _metadata(view: str, entry: View, published: online.Published | None, now: datetime) -> ViewMetadata:
    """A view's published ds, S(ds), Delta version and staleness (now - S(ds) over the view's ttl); nothing
    published is stale."""
    if published is None:
        return ViewMetadata(view, int(entry.version), None, None, None, True)
    taken = online.snapshot_time(published.ds)
    ttl = entry.ttl_seconds
    stale = ttl is not None and (now - taken).total_seconds() > ttl
    return ViewMetadata(view, int(entry.version), published.ds, taken, published.delta_version, stale,
                        published.generation)


def get_online_features(ctx: Context, features: Sequence[str],
                        entity_rows: Sequence[Mapping[str, Any]], *, full_feature_names: bool = False,
                        now: datetime | None = None) -> OnlineResponse:
    """One request with a reader of its own (use OnlineReader for many)."""
    reader = OnlineReader(ctx.config, ctx.plan)
    try:
        return reader.read(features, entity_rows, full_feature_names=full_feature_names, now=now)
    finally:
        reader.close()


def empty_value(feature: Feature) -> Any:
    """A feature's value for a key with no row: 0 (typed) for count-likes, None otherwise."""
    if feature.empty_value != "0":
        return None
    return 0.0 if feature.dtype == "float64" else 0


def _decode(entry: View, raw: bytes | None, now: datetime) -> list[Any] | None:
    """An entity's packed values, or None when it has no row (empty-window values, or null for latest)."""
    if raw is None:
        return None
    import msgpack

    values: list[Any] = msgpack.unpackb(raw)
    if entry.kind == "latest" and entry.ttl_seconds is not None:
        event_time = EPOCH + timedelta(microseconds=values[0])
        if (now - event_time).total_seconds() > entry.ttl_seconds:
            return [values[0]] + [None] * (len(values) - 1)  # older than the view's ttl: every feature null
    return values


def _typed(value: Any, dtype: str) -> Any:
    if value is None:
        return None
    if dtype == "timestamp":
        return EPOCH + timedelta(microseconds=value)
    if dtype == "date":
        return date(1970, 1, 1) + timedelta(days=value)
    if dtype == "float64":
        return float(value)
    return value


def read_script() -> str:
    """The Lua script every online read runs (one EVAL per view): KEYS[1] is the view version's ``current``
    hash, ARGV[1] the prefix of its generation hashes, ARGV[2...] the entity fields. It returns ``{}`` when
    nothing is published, else ``{gen, ds, Delta version, schema, value of entity 1, ...}`` (nil for an
    entity without a row), all read in one atomic step, so a publish switch never mixes two snapshots."""
    return online.READ.strip() + "\n"


def read_layout(plan: Plan, view: str) -> JSONObject:
    """What a reader outside Python needs to read one view with ``read_script``: the key and prefix to pass,
    the schema to expect, how to build an entity field, and the meaning of each value in the packed list."""

    entry = plan.view(view)
    if not entry.online:
        raise UsageError(f"view {view!r} is not served online (online=False in its definition)")
    keys = online.ViewKeys.of(plan.project, view, int(entry.version))
    values: list[JSONObject] = []
    if entry.kind == "latest":
        values.append({"name": "event_timestamp", "dtype": "timestamp", "empty_value": None})
    values += [{"name": f.name, "dtype": f.dtype, "empty_value": empty_value(f)} for f in entry.features]
    return {"view": view, "version": int(entry.version), "kind": entry.kind,
            "keys": [keys.pointer], "args": [keys.data_prefix], "schema": online.schema_id(entry),
            "join_keys": [{"name": k.name, "dtype": k.dtype} for k in entry.join_keys],
            "values": values, "ttl_seconds": entry.ttl_seconds}


def parse_entity(text: str, plan: Plan, refs: Sequence[str]) -> dict[str, int | str]:
    """CLI: "user_id=1" or "account_id=1,device=12" -> typed join key values (types from the plan)."""
    types = join_key_types(parse_features(plan, refs, full_names=True))
    out: dict[str, int | str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--entity {text!r}: write it as key=value[,key=value], e.g. user_id=1")
        if name not in types:
            raise UsageError(f"--entity {text!r}: {name!r} is not a join key of the views asked for; join keys: "
                             f"{', '.join(types)}")
        if types[name] == "int64":
            try:
                out[name] = int(value)
            except ValueError:
                raise UsageError(f"--entity {text!r}: {name} is int64 in the plan; {value!r} is not a whole "
                                 f"number") from None
        else:
            out[name] = value
    return out
