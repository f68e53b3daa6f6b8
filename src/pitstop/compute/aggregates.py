"""PURE Spark: events -> daily tiles of mergeable partial aggregates -> windowed snapshots.

Semantics are docs/semantics.md, exactly: the snapshot of day D is taken at S(D) = D+1 00:00 UTC and an
aggregate over window w covers events with S(D) - w <= event_ts < S(D), i.e. the tiles of days
D-w+1 .. D. A tile holds, per entity and day, partials that merge associatively (counts, sums,
sums of squares, min, max, exact distinct sets, HLL sketches, the last value with its timestamps),
so a day's snapshot never re-reads the raw events of its window.

Every function here takes and returns DataFrames; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Collection

    from pyspark.sql import DataFrame

    from pitstop.plan.model import Feature, View

DS = "ds"
TS = "event_timestamp"
CREATED = "created_timestamp"
FEATURE_TS = "feature_timestamp"
BASE = "_is_base"  # a merged "everything before the range" row, used by lifetime windows only
GRID = "_is_grid"  # one row per key and snapshot day; the frames around it are the windows
DAY = "_day"  # ds as a day number, the window frames' order


def ds_in(days: Collection[date]) -> str:
    """The SQL predicate ``ds IN (DATE '...', ...)`` selecting ``days`` (partition pruning on ds); FALSE for
    no day."""
    if not days:
        return "FALSE"
    return f"{DS} IN (" + ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) + ")"


def q(name: str) -> str:
    """A backtick-quoted column name for SQL expressions."""
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class Partial:
    """One mergeable partial aggregate stored in the tiles table."""

    name: str
    tile_expr: str  # aggregate over events
    merge_fn: str  # "sum" | "min" | "max" | "set" | "hll" | "last"

    def merged(self, condition: str, over: str = "") -> str:
        """The partial merged over the rows where ``condition`` holds; with ``over`` (a window spec such
        as "(PARTITION BY k ORDER BY d ...)"), merged over that window frame instead of a group."""
        col = f"CASE WHEN {condition} THEN {q(self.name)} END"
        window = f" OVER {over}" if over else ""
        if self.merge_fn == "set":
            return f"array_distinct(flatten(collect_list({col}){window}))"
        if self.merge_fn == "hll":
            return f"hll_union_agg({col}, true){window}"
        if self.merge_fn == "last":
            return f"max({col}){window}"
        return f"{self.merge_fn}({col}){window}"


def _partials_for(function: str, column: str | None, has_created: bool) -> list[Partial]:
    if column is None:
        return [Partial("rows__count", "count(1)", "sum")]
    c = q(column)
    n = Partial(f"{column}__count", f"count({c})", "sum")
    total = Partial(f"{column}__sum", f"sum({c})", "sum")
    if function == "count":
        return [n]
    if function == "sum":
        return [total]
    if function == "avg":
        return [n, total]
    if function in ("min", "max"):
        return [Partial(f"{column}__{function}", f"{function}({c})", function)]
    if function == "count_distinct":
        return [Partial(f"{column}__set", f"collect_set({c})", "set")]
    if function == "approx_count_distinct":
        return [Partial(f"{column}__hll", f"hll_sketch_agg(CAST({c} AS STRING), 12)", "hll")]
    if function == "last":
        created = q(CREATED) if has_created else "CAST(NULL AS TIMESTAMP)"
        latest = f"struct({q(TS)} AS ts, {created} AS created, {c} AS v)"  # ties: created, then value
        return [Partial(f"{column}__last", f"max(CASE WHEN {c} IS NOT NULL THEN {latest} END)", "last")]
    if function in ("stddev_samp", "var_samp"):
        return [n, Partial(f"{column}__sumd", f"sum(CAST({c} AS DOUBLE))", "sum"),
                Partial(f"{column}__sumsq", f"sum(CAST({c} AS DOUBLE) * CAST({c} AS DOUBLE))", "sum")]
    raise ValueError(f"unknown function {function!r}")


def view_partials(view: View) -> list[Partial]:
    """Every partial the view's features need, once each, in a stable order."""
    has_created = view.source.created_timestamp_field is not None
    seen: dict[str, Partial] = {"rows__count": Partial("rows__count", "count(1)", "sum")}  # also the run's event count
    for feature in view.features:
        for partial in _partials_for(feature.aggregate_function, feature.column, has_created):
            seen.setdefault(partial.name, partial)
    return list(seen.values())


def _finish(feature: Feature, merged: dict[str, str]) -> str:
    """SQL for one feature's final value from its merged partials (the table in docs/semantics.md)."""
    function, column, dtype = feature.function, feature.column, feature.dtype
    if column is None:
        return f"CAST(coalesce({merged['rows__count']}, 0) AS BIGINT)"
    m = {k.split("__", 1)[1]: v for k, v in merged.items() if k.split("__", 1)[0] == column}
    if function == "count":
        return f"CAST(coalesce({m['count']}, 0) AS BIGINT)"
    if function == "sum":
        spark_type = "BIGINT" if dtype == "int64" else "DOUBLE"
        return f"CAST(coalesce({m['sum']}, 0) AS {spark_type})"
    if function == "avg":
        return f"CAST({m['sum']} AS DOUBLE) / nullif({m['count']}, 0)"
    if function in ("min", "max"):
        return m[function]
    if function == "count_distinct":
        return f"CAST(size({m['set']}) AS BIGINT)"
    if function == "approx_count_distinct":
        return f"CAST(coalesce(hll_sketch_estimate({m['hll']}), 0) AS BIGINT)"
    if function == "last":
        return f"({m['last']}).v"
    var = (f"CASE WHEN {m['count']} > 1 THEN greatest(({m['sumsq']} - {m['sumd']} * {m['sumd']} / {m['count']}) "
           f"/ ({m['count']} - 1), 0D) END")
    return var if function == "var_samp" else f"sqrt({var})"


def prepare_events(source: DataFrame, view: View, first_day: date, last_day: date) -> DataFrame:
    """Source rows -> the events of an aggregate view for the days [first_day, last_day] (``select_rows``
    with the columns its aggregations use)."""
    keys = {k.name for k in view.join_keys}
    columns = sorted({f.column for f in view.features if f.column} - keys)
    return select_rows(source, view, columns, first_day, last_day)


def select_rows(source: DataFrame, view: View, columns: list[str], first_day: date,
                last_day: date) -> DataFrame:
    """The view's filter applied, then the rows of the days [first_day, last_day]: join keys, event and
    created timestamps as UTC TIMESTAMP, ``columns`` (integers as BIGINT, floats as DOUBLE with NaN as
    null), and ds, the event's UTC day.

    Rows with a null event timestamp fall outside every day; rows with a null join key are kept, so
    callers can count (``null_key_condition``) and drop them in the same pass."""
    from pyspark.sql import functions as F

    src = view.source
    keys = [k.name for k in view.join_keys]
    types = src.columns
    selected = [F.col(q(k)) for k in keys]
    selected.append(F.col(q(src.timestamp_field)).cast("timestamp").alias(TS))
    if src.created_timestamp_field:
        selected.append(F.col(q(src.created_timestamp_field)).cast("timestamp").alias(CREATED))
    for c in columns:
        col = F.col(q(c))
        if types.get(c) == "float64":
            col = F.when(F.isnan(col), F.lit(None)).otherwise(col.cast("double"))
        elif types.get(c) == "int64":
            col = col.cast("bigint")
        selected.append(col.alias(c))
    df = source
    if view.filter:
        df = df.where(F.expr(view.filter))
    start = f"TIMESTAMP '{first_day.isoformat()} 00:00:00'"
    stop = f"TIMESTAMP '{(last_day + timedelta(days=1)).isoformat()} 00:00:00'"
    events = df.select(*selected).where(f"{q(TS)} >= {start} AND {q(TS)} < {stop}")
    return events.withColumn(DS, F.to_date(F.col(TS)))


def null_key_condition(view: View) -> str:
    """SQL: a row (event or tile) with a null join key, which cannot be an entity's event."""
    return " OR ".join(f"{q(k.name)} IS NULL" for k in view.join_keys)


def compute_tiles(events: DataFrame, view: View) -> DataFrame:
    """Events -> one row per (join keys, ds) holding every partial."""
    from pyspark.sql import functions as F

    keys = [q(k.name) for k in view.join_keys]
    aggs = [F.expr(p.tile_expr).alias(p.name) for p in view_partials(view)]
    return events.groupBy(*keys, DS).agg(*aggs)


def merge_base(tiles: DataFrame, view: View) -> DataFrame:
    """All the given tiles merged into one partial row per key: the lifetime state before a range."""
    from pyspark.sql import functions as F

    keys = [q(k.name) for k in view.join_keys]
    partials = view_partials(view)
    return tiles.groupBy(*keys).agg(*[F.expr(p.merged("true")).alias(p.name) for p in partials])


def compute_snapshots(tiles: DataFrame, view: View, first_day: date, last_day: date,
                      base: DataFrame | None = None) -> DataFrame:
    """Snapshots of the days [first_day, last_day] from the tiles of days [first_day - W + 1, last_day]
    (W = the largest bounded window) and, for lifetime windows, ``base``: one row of partials per key
    merging every tile before first_day (``merge_base``, or a saved running total).

    One row per key and day for every key with an event in the view's largest window; columns: join
    keys, ds, feature_timestamp = S(ds), then the features in plan order.

    How: each key gets one "grid" row per day of the range on which it can have a row (from its first
    tile or first_day to its last tile plus W - 1 days, or to last_day with a lifetime window); grid rows
    and tile rows are ordered by day per key, and each window is a range frame over them ("the tiles of
    the last w days"), so a tile row is read once per key, not copied once per snapshot day it reaches."""
    from pyspark.sql import functions as F

    keys = [k.name for k in view.join_keys]
    qkeys = [q(k) for k in keys]
    features = view.features
    lifetime = any(f.window_days is None for f in features)
    bounded = [f.window_days for f in features if f.window_days is not None]
    reach = max(bounded) if bounded else 1
    partials = view_partials(view)
    lo, hi = first_day.isoformat(), last_day.isoformat()

    rows = tiles.where(f"{DS} >= DATE '{(first_day - timedelta(days=reach - 1)).isoformat()}' "
                       f"AND {DS} <= DATE '{hi}'").withColumn(BASE, F.lit(False))
    if lifetime and base is not None:
        base_rows = base.withColumn(DS, F.lit(first_day - timedelta(days=1)).cast("date")).withColumn(BASE, F.lit(True))
        rows = rows.unionByName(base_rows.select(*rows.columns))
    bounds = rows.groupBy(*qkeys).agg(F.min(DS).alias("_lo"), F.max(DS).alias("_hi"))
    grid_lo = F.greatest(F.col("_lo"), F.lit(lo).cast("date"))
    grid_hi = F.lit(hi).cast("date") if lifetime else F.least(F.date_add(F.col("_hi"), reach - 1),
                                                              F.lit(hi).cast("date"))
    grid = bounds.where(grid_lo <= grid_hi).select(*qkeys, F.explode(F.sequence(grid_lo, grid_hi)).alias(DS))
    rows = rows.withColumn(GRID, F.lit(False)).unionByName(
        grid.withColumn(BASE, F.lit(False)).withColumn(GRID, F.lit(True)), allowMissingColumns=True)
    rows = rows.withColumn(DAY, F.datediff(F.col(DS), F.lit("1970-01-01").cast("date")))

    by_key = f"PARTITION BY {', '.join(qkeys)} ORDER BY {DAY}"
    windows = sorted({f.window_days for f in features}, key=lambda d: (d is None, d or 0))
    merged_cols = []
    merged_names: dict[int | None, dict[str, str]] = {}
    for days in windows:
        if days is None:
            cond = f"({BASE} OR {DS} >= DATE '{lo}')"
            over = f"({by_key} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        else:
            cond = f"(NOT {BASE})"
            over = f"({by_key} RANGE BETWEEN {days - 1} PRECEDING AND CURRENT ROW)"
        suffix = "lifetime" if days is None else f"{days}d"
        merged_names[days] = {}
        for p in partials:
            alias = f"_m_{suffix}_{p.name}"
            merged_cols.append(F.expr(p.merged(cond, over)).alias(alias))
            merged_names[days][p.name] = q(alias)
    # the largest window decides which keys get a row on a day
    present = F.lit(True) if lifetime else F.expr(
        f"sum(CASE WHEN NOT {BASE} THEN rows__count END) OVER ({by_key} RANGE BETWEEN {reach - 1} PRECEDING "
        f"AND CURRENT ROW) > 0")
    merged = rows.select(*qkeys, DS, GRID, *merged_cols, present.alias("_present")) \
        .where(f"{GRID} AND _present")
    out = [F.col(q(k)) for k in keys]
    out.append(F.col(DS))
    out.append(F.to_timestamp(F.date_add(F.col(DS), 1)).alias(FEATURE_TS))
    for feature in features:
        out.append(F.expr(_finish(feature, merged_names[feature.window_days])).alias(feature.name))
    return merged.select(*out)


def snapshot_days(first_day: date, last_day: date) -> list[date]:
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
