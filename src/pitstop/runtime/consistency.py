"""`pitstop consistency VIEW --sample N`: the online values against the Delta snapshot they were published
from, value for value (docs/semantics.md: offline and online agree on the same snapshot)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pitstop.compute.aggregates import TS
from pitstop.errors import UsageError
from pitstop.plan import naming
from pitstop.runtime.context import Context
from pitstop.runtime.materialize import snapshot
from pitstop.runtime.online import OnlineReader, empty_value

if TYPE_CHECKING:
    pass


@dataclass
class ConsistencyReport:
    view: str
    ds: str
    delta_version: int
    checked: int
    mismatches: dict[str, int]  # per feature
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.mismatches.values())

    def describe(self) -> str:
        lines = [f"{self.view}: {self.checked} entities compared between Redis and the Delta snapshot of ds "
                 f"{self.ds} (version {self.delta_version}) - "
                 + ("every value agrees" if self.ok else "MISMATCHES FOUND")]
        width = max(len(n) for n in self.mismatches) if self.mismatches else 0
        for name, count in self.mismatches.items():
            rate = count / self.checked if self.checked else 0.0
            lines.append(f"  {name:<{width}}  {count:>6} mismatch(es)  {rate:.2%}")
        lines += [f"  e.g. {e}" for e in self.examples[:5]]
        return "\n".join(lines)


def _equal(online: Any, offline: Any) -> bool:
    if online is None or offline is None:
        return online is None and offline is None
    if isinstance(online, float) and isinstance(offline, float):
        return (math.isnan(online) and math.isnan(offline)) or online == offline
    if isinstance(online, datetime) and isinstance(offline, datetime):
        return online.replace(tzinfo=None) == offline.replace(tzinfo=None)
    return bool(online == offline)


def check(ctx: Context, view_name: str, sample: int,
          seed: int = 0) -> ConsistencyReport:
    """Compare ``sample`` entities: half drawn from the Delta snapshot's rows, half from the fields in
    Redis (so keys only one side has are found too)."""
    from pyspark.sql import functions as F

    view = ctx.view(view_name)
    if sample < 1:
        raise UsageError(f"--sample must be at least 1, got {sample}")
    reader = OnlineReader(ctx.config, ctx.plan)
    try:
        published = reader.published(view_name)
        if published.ds is None or published.delta_version is None:
            raise UsageError(f"view {view_name!r} v{view.version} has nothing published; run `pitstop publish "
                             f"{view_name}` first")
        keys = [k.name for k in view.join_keys]
        names = [f.name for f in view.features]
        latest = view.kind == "latest"
        offline = snapshot(ctx, view_name, published.ds, version=published.delta_version,
                           event_time=latest)
        if latest:  # the event time as epoch microseconds: no local-time conversion on the way to Python
            offline = offline.withColumn(TS, F.unix_micros(F.col(TS)))
        from_delta = [r.asDict() for r in offline.orderBy(F.rand(seed)).limit((sample + 1) // 2).collect()]
        data_key = naming.online_data_prefix(ctx.config.project, view_name, int(view.version))
        fields: Any = reader.client.hrandfield(f"{data_key}{published.generation}", sample // 2) \
            if sample > 1 else []
        dtypes = [k.dtype for k in view.join_keys]
        wanted = [dict(zip(keys, naming.parse_entity_field(f.decode(), dtypes), strict=True)) for f in fields or []]
        seen = {tuple(r[k] for k in keys) for r in from_delta}
        extra = [w for w in wanted if tuple(w[k] for k in keys) not in seen]
        if extra:
            condition = " OR ".join("(" + " AND ".join(f"`{k}` = {w[k]!r}" for k in keys) + ")" for w in extra)
            from_delta += [r.asDict() for r in offline.where(condition).collect()]
        by_key = {tuple(r[k] for k in keys): r for r in from_delta}
        entities = [dict(zip(keys, key, strict=True)) for key in by_key] + \
            [w for w in extra if tuple(w[k] for k in keys) not in by_key]
        got = reader.read([f"{view_name}:{n}" for n in names], entities).to_list()
    finally:
        reader.close()
    now = datetime.now(UTC)
    ttl = view.ttl_seconds
    mismatches = dict.fromkeys(names, 0)
    examples = []
    empties = {f.name: empty_value(f) for f in view.features}
    for row in got:
        key = tuple(row[k] for k in keys)
        want = by_key.get(key)
        for name in names:
            expected = want[name] if want is not None else empties[name]
            if latest and want is not None and ttl is not None and \
                    now.timestamp() - want[TS] / 1e6 > ttl:
                expected = None  # older than the view's ttl: online serves null, as training would
            if not _equal(row[name], expected):
                mismatches[name] += 1
                examples.append(f"{dict(zip(keys, key, strict=True))} {name}: Redis {row[name]!r}, Delta "
                                f"{expected!r}")
    return ConsistencyReport(view_name, published.ds.isoformat(), published.delta_version, len(got), mismatches,
                             examples)


CONSISTENCY_SCHEMA = ("checked_at timestamp, ds date, delta_version bigint, checked bigint, mismatches bigint, "
                      "ok boolean, summary string")


def record(ctx: Context, report: ConsistencyReport) -> None:
    """Append the comparison to the view's consistency table (what `pitstop status` shows)."""
    from datetime import date

    from pitstop.stores import delta

    view = ctx.view(report.view)
    row = (datetime.now(UTC), date.fromisoformat(report.ds), report.delta_version,
           report.checked, sum(report.mismatches.values()), report.ok, report.describe())
    path = delta.table_path(ctx.config.offline_store_path, naming.consistency_table(report.view, int(view.version)))
    delta.append(ctx.spark.createDataFrame([row], CONSISTENCY_SCHEMA), path,
                 properties={"pitstop.view": report.view, "pitstop.view_version": str(view.version)})
