"""PURE: the point-in-time join of a spine with feature views, rendered as ONE standalone Spark SQL query.

Semantics are design.md §3 (Point-in-time join), exactly. For a spine row (keys k, time t):

* aggregate views: D* = the latest materialized day with S(D*) + availability_delay <= t. No range join:
  a small calendar maps every day to the latest materialized day at or before it, so each spine row
  finds D* by an equi-join on its day, and its features by an equi-join on (keys, ds = D*) with the
  snapshot table (at most one row per key and day, so spine rows are never multiplied). No D*, or t -
  S(D*) > ttl: every feature null. A key without a row in D*'s snapshot: the empty-window values.
* latest-value views: the spine rows and the view's rows (only the ds partitions the spine can see:
  from the earliest spine time minus the ttl) are put in one stream per key ordered by the time each
  row becomes visible; a running max of (event time, created time, values...) over that stream is, at
  each spine row, exactly the winning row among those visible then (greatest event time, then created,
  then values). Sorting a key's rows is the only per-key work: a key with a million spine rows costs a
  sort that spills, never a quadratic join.

Every time comparison is done on epoch microseconds and Unix days, so the query does not depend on the
session time zone. Every table is read at a pinned Delta version (``VERSION AS OF``), which is what makes
a training set reproducible. The output has exactly the spine's rows and columns, then one column per
feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pitstop.compute.aggregates import CREATED, DS, TS, q

DAY_US = 86_400_000_000
EPOCH = date(1970, 1, 1)
SPINE_TS = "__pitstop_t"  # the spine's time as epoch microseconds


@dataclass(frozen=True)
class Column:
    name: str  # in the feature table
    output: str  # in the training set
    sql_type: str  # Spark SQL type: BIGINT, DOUBLE, STRING, BOOLEAN, TIMESTAMP, DATE
    empty: str = "NULL"  # SQL literal for a key without a row (aggregates): "0", "CAST(0 AS DOUBLE)", "NULL"


@dataclass(frozen=True)
class ViewRead:
    """One view version as the join reads it (paths and versions resolved by the runtime)."""

    name: str
    kind: str  # "aggregate" | "latest"
    table: str  # a Spark SQL table reference, e.g. delta.`/path` (read VERSION AS OF table_version)
    table_version: int
    join_keys: tuple[str, ...]
    columns: tuple[Column, ...]
    ttl_seconds: int | None
    availability_delay_seconds: int = 0
    # aggregate views: the materialized days (from the log at the version read); latest views: unused
    days: tuple[date, ...] = ()
    # latest-value views
    has_created: bool = False
    inclusive_cutoff: bool = False


@dataclass(frozen=True)
class Spine:
    relation: str  # a Spark SQL relation: a table name, delta.`/p`, parquet.`/p`, or (SELECT ...)
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type) in order
    timestamp_expr: str  # SQL turning the spine's time column into a TIMESTAMP (a cast for strings)
    key_types: tuple[tuple[str, str], ...] = ()  # join key -> the plan's Spark SQL type, for casts
    first: date | None = None  # the spine's earliest and latest day (partition pruning); None: no rows
    last: date | None = None
    broadcast_pairs: bool = True  # small spines: broadcast the (keys, D*) pairs that cut the snapshots down


def _lit_date(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def _unix_day(expr: str) -> str:
    return f"unix_date({expr})"


def _key(spine_key: str, types: dict[str, str]) -> str:
    return f"CAST(s.{q(spine_key)} AS {types[spine_key]})" if spine_key in types else f"s.{q(spine_key)}"


def render(spine: Spine, views: Sequence[ViewRead]) -> str:
    """The training-set query: ``WITH`` clauses per view, then the spine left-joined to each."""
    types = dict(spine.key_types)
    ctes = [f"spine AS (\n  SELECT *, unix_micros({spine.timestamp_expr}) AS {SPINE_TS}\n  FROM {spine.relation}\n)"]
    joins: list[str] = []
    selects = [f"s.{q(name)}" for name, _ in spine.columns]
    for i, view in enumerate(views):
        alias = f"v{i}"
        if view.kind == "aggregate":
            cte, join, exprs = _aggregate(view, alias, spine, types)
        else:
            cte, join, exprs = _latest(view, alias, spine, types)
        ctes += cte
        joins.append(join)
        selects += exprs
    return ("WITH " + ",\n".join(ctes) + "\nSELECT " + ",\n       ".join(selects) + "\nFROM spine s" +
            "".join(joins))


def _aggregate(view: ViewRead, alias: str, spine: Spine, types: dict[str, str]) -> \
        tuple[list[str], str, list[str]]:
    delay_us = view.availability_delay_seconds * 1_000_000
    # the newest day D with S(D) + delay <= t, as a Unix day: floor((t - delay) / 1 day) - 1
    target = f"(floor((s.{SPINE_TS} - {delay_us}) / {DAY_US}) - 1)"
    days = sorted(set(view.days))
    if not days:
        return [], "", [f"CAST(NULL AS {c.sql_type}) AS {q(c.output)}" for c in view.columns]
    # every day from the first materialized one to the last -> the newest materialized day at or before it
    # (computed here: a few hundred literal rows, broadcast; a gap maps to the day before it)
    cal = f"{alias}_cal"
    have, newest, calendar = set(days), days[0], []
    for n in range((days[-1] - days[0]).days + 1):
        day = _shift(days[0], n)
        newest = day if day in have else newest
        calendar.append(f"({(day - EPOCH).days}, {_lit_date(newest)})")
    ctes = [f"{cal} AS (\n  SELECT col1 AS day, col2 AS dstar FROM VALUES {', '.join(calendar)}\n)"]
    # the snapshot rows the spine can reach: partition pruning on ds
    lo = days[0]
    if spine.first is not None and view.ttl_seconds is not None:  # older days are past the ttl anyway
        lo = max(lo, _shift(spine.first, -2 - -(-view.ttl_seconds // 86_400)))
    hi = days[-1] if spine.last is None else min(days[-1], spine.last)
    if hi < lo:
        hi = lo
    features = ", ".join(f"f.{q(c.name)}" for c in view.columns)
    last_day = _unix_day(_lit_date(days[-1]))
    # the (keys, D*) pairs the spine asks for (duplicates are harmless in a semi-join): the snapshot is cut
    # down to them before the big join, by a semi-join that reads the table once without a shuffle when the
    # pairs are broadcast
    wanted = f"{alias}_want"
    ctes.append(f"{wanted} AS (\n  SELECT {', '.join(f'{_key(k, types)} AS {q(k)}' for k in view.join_keys)}, "
                f"c.dstar AS {q(DS)}\n  FROM spine s JOIN {cal} c ON c.day = least({target}, {last_day})\n"
                f"  WHERE c.dstar IS NOT NULL AND " + " AND ".join(f"s.{q(k)} IS NOT NULL" for k in view.join_keys) +
                "\n)")
    hint = "/*+ BROADCAST(w) */ " if spine.broadcast_pairs else ""
    pair_match = " AND ".join(f"f.{q(k)} = w.{q(k)}" for k in (*view.join_keys, DS))
    ctes.append(f"{alias}_f AS (\n  SELECT {hint}{', '.join(f'f.{q(k)}' for k in view.join_keys)}, f.{q(DS)}, "
                f"{features}\n  FROM {view.table} VERSION AS OF {view.table_version} f\n"
                f"  LEFT SEMI JOIN {wanted} w ON {pair_match}\n"
                f"  WHERE f.{q(DS)} BETWEEN {_lit_date(lo)} AND {_lit_date(hi)}\n)")
    key_match = " AND ".join(f"{alias}.{q(k)} = {_key(k, types)}" for k in view.join_keys)
    join = (f"\nLEFT JOIN {cal} ON {cal}.day = least({target}, {last_day})"
            f"\nLEFT JOIN {alias}_f {alias} ON {key_match} AND {alias}.{q(DS)} = {cal}.dstar")
    null_when = [f"s.{SPINE_TS} IS NULL", f"{cal}.dstar IS NULL",
                 *[f"s.{q(k)} IS NULL" for k in view.join_keys]]
    if view.ttl_seconds is not None:
        s_of_dstar = f"(({_unix_day(f'{cal}.dstar')} + 1) * {DAY_US})"
        null_when.append(f"s.{SPINE_TS} - {s_of_dstar} > {view.ttl_seconds * 1_000_000}")
    exprs = [f"CASE WHEN {' OR '.join(null_when)} THEN NULL WHEN {alias}.{q(DS)} IS NULL THEN {c.empty} "
             f"ELSE {alias}.{q(c.name)} END AS {q(c.output)}" for c in view.columns]
    return ctes, join, exprs


def _latest(view: ViewRead, alias: str, spine: Spine, types: dict[str, str]) -> tuple[list[str], str, list[str]]:
    keys = list(view.join_keys)
    feature_cols = [c.name for c in view.columns]
    created = f"coalesce({q(CREATED)}, {q(TS)})" if view.has_created else q(TS)
    # visible at t from: event < t (strict) or event <= t (inclusive_cutoff), and created <= t
    ts_us, created_us = f"unix_micros({q(TS)})", f"unix_micros({created})"
    if view.inclusive_cutoff:
        visible, tag = f"greatest({ts_us}, {created_us})", "0"
    else:
        visible = f"greatest({ts_us}, {created_us})"
        tag = f"CASE WHEN {created_us} > {ts_us} THEN 0 ELSE 2 END"  # 0: visible at t = vis, 2: after
    created_field = q(CREATED) if view.has_created else "CAST(NULL AS TIMESTAMP)"
    winner = f"named_struct('ts', {q(TS)}, 'created', {created_field}, " + \
        ", ".join(f"'f{j}', {q(n)}" for j, n in enumerate(feature_cols)) + ")"
    where = []
    if spine.last is not None:
        where.append(f"{q(DS)} <= {_lit_date(spine.last)}")
    if view.ttl_seconds is not None and spine.first is not None:
        where.append(f"{q(DS)} >= {_lit_date(_shift(spine.first, -(view.ttl_seconds // 86_400) - 1))}")
    rows = (f"  SELECT {', '.join(q(k) for k in keys)}, {visible} AS _vis, {tag} AS _tag, {winner} AS _row\n"
            f"  FROM {view.table} VERSION AS OF {view.table_version}" +
            (f"\n  WHERE {' AND '.join(where)}" if where else ""))
    # the spine's distinct (keys, t) points, merged with the rows; the running max is the winner at each
    points = (f"  SELECT DISTINCT {', '.join(f'{_key(k, types)} AS {q(k)}' for k in keys)}, {SPINE_TS} AS _vis, "
              f"1 AS _tag, CAST(NULL AS {_struct_type(view)}) AS _row\n"
              f"  FROM spine s\n  WHERE {SPINE_TS} IS NOT NULL AND " +
              " AND ".join(f"s.{q(k)} IS NOT NULL" for k in keys))
    order = "_vis, _tag"
    ctes = [f"{alias}_rows AS (\n{rows}\n)", f"{alias}_points AS (\n{points}\n)",
            f"{alias}_asof AS (\n  SELECT * FROM (\n"
            f"    SELECT {', '.join(q(k) for k in keys)}, _vis, _tag,\n"
            f"           max(_row) OVER (PARTITION BY {', '.join(q(k) for k in keys)} ORDER BY {order} "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _best\n"
            f"    FROM (SELECT * FROM {alias}_points UNION ALL SELECT * FROM {alias}_rows)\n"
            f"  ) WHERE _tag = 1\n)"]
    key_match = " AND ".join(f"{alias}.{q(k)} = {_key(k, types)}" for k in keys)
    join = f"\nLEFT JOIN {alias}_asof {alias} ON {key_match} AND {alias}._vis = s.{SPINE_TS}"
    expired = "FALSE" if view.ttl_seconds is None else \
        f"s.{SPINE_TS} - unix_micros({alias}._best.ts) > {view.ttl_seconds * 1_000_000}"
    exprs = [f"CASE WHEN {expired} THEN NULL ELSE {alias}._best.f{j} END AS {q(c.output)}"
             for j, c in enumerate(view.columns)]
    return ctes, join, exprs


def _shift(d: date, days: int) -> date:
    return d + timedelta(days=days)


def _struct_type(view: ViewRead) -> str:
    return "STRUCT<ts: TIMESTAMP, created: TIMESTAMP, " + ", ".join(
        f"f{j}: {c.sql_type}" for j, c in enumerate(view.columns)) + ">"
