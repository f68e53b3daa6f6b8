"""Publish a view's latest materialized snapshot into Redis, from the executors, with an atomic switch.

As docs/semantics.md (Online reads) says, and idempotent: a publish never lets an older ds replace a newer
one; the same ds with a newer Delta version replaces it; the same ds and version again changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pitstop.compute import aggregates as agg
from pitstop.config import redact_url
from pitstop.errors import ConnectionFailed, JobFailed, TransientError, UnsupportedDeltaTable, UsageError
from pitstop.runtime.context import Context
from pitstop.runtime.materialize import first_line, is_spark_error, snapshot
from pitstop.runtime.tables import day_to_publish, logged_days, read_without_spark, snapshot_version
from pitstop.stores import delta_log, online
from pitstop.stores.spark import default_parallelism

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.plan.model import View

# A day of at most this many rows is published from the pitstop process itself, read with pyarrow from the
# Delta table: no Spark job, no Python worker start (measured in benchmarks/); a larger one by Spark's tasks.
LOCAL_ROWS = 250_000
WRITE_CHUNK = 10_000  # rows per Arrow batch handed to the writer


@dataclass
class PublishResult:
    view: str
    ds: date
    delta_version: int
    outcome: str  # "switched" | "newer" (a newer ds is published) | "same" (already published)
    generation: int | None = None
    entities: int = 0
    seconds: float = 0.0
    published: online.Published | None = None  # what is published after this call

    def describe(self) -> str:
        if self.outcome == "switched":
            return (f"{self.view}: published ds {self.ds} (Delta version {self.delta_version}) to Redis: "
                    f"{self.entities:,} entities in {self.seconds:.1f}s "
                    f"({self.entities / max(self.seconds, 1e-9):,.0f}/s), generation {self.generation}")
        assert self.published is not None
        if self.outcome == "same":
            return (f"{self.view}: ds {self.ds} (Delta version {self.published.delta_version}) is already "
                    f"published; nothing changed")
        return (f"{self.view}: not publishing ds {self.ds}: a newer snapshot (ds {self.published.ds}) is "
                f"published and an older one never replaces it")


def publish(ctx: Context, view_name: str,
            ds: date | None = None) -> PublishResult:
    """Publish ds (default: the newest materialized day) of a view into the online store."""
    import redis
    from pyspark.sql import functions as F

    view = ctx.view(view_name)
    if not view.online:
        raise UsageError(f"view {view_name!r} is defined with online=False; set online=True in feature_defs (and "
                         f"apply) to serve it")
    began = time.monotonic()
    tables = ctx.tables(view)
    try:  # the logs read with pyarrow: a publish of a small day then needs no Spark session at all
        ds, version = read_without_spark(ctx.config, tables, view_name, ds)
        local = True
    except (UnsupportedDeltaTable, OSError):
        local = False
        ds = day_to_publish(view_name, logged_days(ctx.spark, tables.log)["snapshot"], ds)
        version = snapshot_version(ctx.spark, tables, view_name, ds)
    keys = online.ViewKeys.of(ctx.config.project, view_name, int(view.version))
    from pitstop.stores.redis_client import connect

    client = connect(ctx.config.online_store_url)
    try:
        now = online.current(client, keys)
        if now is not None and (now.ds > ds or (now.ds == ds and now.delta_version >= version)):
            return PublishResult(view_name, ds, version, "newer" if now.ds > ds else "same", published=now)
        generation = online.new_generation(client, keys)
        join_keys = [k.name for k in view.join_keys]
        values = [f.name for f in view.features]
        if view.kind == "latest":
            values = [agg.TS, *values]
        spec = online.WriteSpec(ctx.config.online_store_url, keys.data(generation), tuple(join_keys), tuple(values))
        day = _small_day(ctx, view, tables.snapshots, ds, version, [*join_keys, *values]) if local else None
        if day is not None:  # written from this process: no Spark job for a few thousand rows
            entities = sum(int(b.column(0)[0].as_py()) for b in spec.write(iter(day.to_batches(WRITE_CHUNK))))
        else:
            rows = snapshot(ctx, view_name, ds, version=version, event_time=view.kind == "latest",
                            within_ttl=True)
            # a ds is one file: spread its rows over every core so each writes its share in parallel
            writers = max(1, default_parallelism(ctx.spark))
            written = rows.select(*[agg.q(c) for c in join_keys + values]) \
                .repartition(writers, *[agg.q(c) for c in join_keys]) \
                .mapInArrow(spec.write, "written long").agg(F.sum("written").alias("n")).first()
            entities = int(written.n or 0) if written is not None else 0
        outcome, detail = online.switch(client, keys, generation, ds, version, entities, online.schema_id(view))
        if outcome != "switched":
            online.discard(client, keys, generation)
        if outcome == "incomplete":
            raise TransientError(f"publishing {view_name} ds {ds}: Redis holds {detail[0]} of the {detail[1]} "
                                 f"entities written (a concurrent publish of the view removed them, or Redis lost "
                                 f"data); the previous snapshot stays served. Rerun the publish")
        if outcome == "switched":
            online.collect_garbage(client, keys)
        published = online.current(client, keys)
    except Exception as exc:
        lost = isinstance(exc, (redis.ConnectionError, redis.TimeoutError)) or (
            is_spark_error(exc) and ("ConnectionError" in str(exc) or "TimeoutError" in str(exc)))
        if not lost:
            if is_spark_error(exc):
                raise JobFailed(f"publishing {view_name} ds {ds} failed in Spark: {first_line(exc)}; the previous "
                                f"snapshot stays served. Rerun the publish", view=view_name, start=ds, end=ds) from exc
            raise
        raise ConnectionFailed(f"publishing {view_name} ds {ds}: lost Redis at "
                               f"{redact_url(ctx.config.online_store_url)} ({type(exc).__name__}); the previous "
                               f"snapshot stays served. Rerun when Redis is back") from exc
    finally:
        client.close()
    return PublishResult(view_name, ds, version, outcome, generation, entities, time.monotonic() - began, published)


def _small_day(ctx: Context, view: View, path: str, ds: date, version: int, columns: list[str]) -> pa.Table | None:
    """One day of an aggregate view's snapshot table at ``version``, read with pyarrow when the Delta log says it
    holds at most LOCAL_ROWS rows; None otherwise (a latest-value view's day is computed, not stored: Spark)."""
    if view.kind != "aggregate":
        return None
    s3 = ctx.config.arrow_s3()
    try:
        log = delta_log.snapshot(path, s3, version)
        day = {agg.DS: ds.isoformat()}
        rows = delta_log.rows_in(log, day)
        if rows is None or rows > LOCAL_ROWS:
            return None
        return delta_log.read_files(log, columns, s3, partition=day)
    except (UnsupportedDeltaTable, OSError):
        return None


def prune_online(ctx: Context) -> dict[str, int]:
    """Remove the Redis keys of every view version of the project that the plan no longer defines (removed
    views, and versions before a bump). Offline tables are kept. Returns {view__vN: keys removed}."""
    import redis

    from pitstop.plan import naming
    from pitstop.stores.redis_client import connect

    current = {naming.table_name(name, int(v.version)) for name, v in ctx.plan.views.items()}
    client = connect(ctx.config.online_store_url)
    try:
        return {table: online.remove_tag(client, ctx.config.project, table)
                for table in online.retired_tags(client, ctx.config.project, current)}
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ConnectionFailed(f"the plan is applied, but the online keys of retired views were not removed: "
                               f"Redis at {redact_url(ctx.config.online_store_url)} is unreachable "
                               f"({type(exc).__name__}). Rerun `pitstop apply --prune` when it is up") from exc
    finally:
        client.close()
