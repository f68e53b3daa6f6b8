"""PURE: the point-in-time join of a spine with feature views, rendered as ONE standalone Spark SQL query.

Semantics are docs/semantics.md (the point-in-time join), exactly. For a spine row (keys k, time t):

* aggregate views: D* = the latest materialized day with S(D*) + availability_delay <= t, from a small
  calendar (every day -> the latest materialized day at or before it) joined by the spine row's day. The
  snapshot row of (k, D) becomes visible at S(D) + delay; the newest row of k visible at t is D*'s, or k
  has no row in D*'s snapshot (the empty-window values). No D*, or t - S(D*) > ttl: every feature null.
* latest-value views: a row becomes visible at greatest(event time, created time) (strictly after its
  event time unless inclusive_cutoff); the greatest (event time, created time, values...) among the rows
  visible at t is the winning row (greatest event time, then created, then values).

Both are one running max per view over ONE stream per set of join keys: the spine's rows (every column,
carried along) and the views' rows, partitioned by the keys and ordered by visibility time. So the spine
is shuffled once for all the views sharing its keys, never joined back, and its rows are never multiplied
or dropped; sorting a key's rows is the only per-key work: a key with a million spine rows costs a sort
that spills, never a quadratic join. Only the ds partitions the spine can see are read (its time range,
less the ttl), and small spines cut each snapshot down to their (keys, D*) pairs by a broadcast semi-join
before the shuffle.

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
    """The training-set query: the spine, then one stage per set of join keys, then the columns in order."""
    types = dict(spine.key_types)
    ctes = [f"spine AS (\n  SELECT *, unix_micros({spine.timestamp_expr}) AS {SPINE_TS}\n  FROM {spine.relation}\n)"]
    outputs: list[str] = []  # every feature, in the asked order
    constant: dict[str, str] = {}  # the features of views with nothing materialized: typed nulls
    groups: dict[tuple[str, ...], list[tuple[int, ViewRead]]] = {}
    for i, view in enumerate(views):
        outputs += [c.output for c in view.columns]
        if view.kind == "aggregate" and not view.days:
            constant.update({c.output: f"CAST(NULL AS {c.sql_type}) AS {q(c.output)}" for c in view.columns})
        else:
            groups.setdefault(view.join_keys, []).append((i, view))
    base = "spine"
    for g, (keys, members) in enumerate(groups.items()):
        ctes += _stage(f"stage{g}", base, keys, members, spine, types)
        base = f"stage{g}"
    selects = [f"s.{q(name)}" for name, _ in spine.columns] + [constant.get(name, f"s.{q(name)}") for name in outputs]
    return "WITH " + ",\n".join(ctes) + "\nSELECT " + ",\n       ".join(selects) + f"\nFROM {base} s"


def _stage(name: str, base: str, keys: tuple[str, ...], members: list[tuple[int, ViewRead]], spine: Spine,
           types: dict[str, str]) -> list[str]:
    """One stream for the views sharing these join keys: the rows of ``base`` (the spine, with the features
    of earlier stages) and every view's rows, partitioned by the keys and ordered by the time each row
    becomes visible; a running max per view is, at each spine row, the view's row it sees. The spine is
    shuffled once here, whatever the number of views. The last CTE (``name``) has every column of ``base``
    and these views' features."""
    ctes: list[str] = []
    exprs: list[str] = []
    calendars: list[tuple[int, str]] = []  # aggregate views: (view index, join of the spine to D*)
    t = f"__row.{SPINE_TS}"
    no_key = [f"{q(k)} IS NULL" for k in keys]
    for i, view in members:
        alias = f"v{i}"
        if view.kind == "aggregate":
            ctes += _aggregate_rows(view, alias, spine, types)
            calendars.append((i, f"LEFT JOIN {alias}_cal c{i} ON c{i}.day = {_target(view, 's')}"))
            null_when = [f"{t} IS NULL", f"__d{i} IS NULL", *no_key]
            if view.ttl_seconds is not None:
                null_when.append(f"{t} - ({_unix_day(f'__d{i}')} + 1) * {DAY_US} > {view.ttl_seconds * 1_000_000}")
            # the newest row seen is D*'s, or the key has no row in D*'s snapshot: the empty-window value
            exprs += [f"CASE WHEN {' OR '.join(null_when)} THEN NULL WHEN __b{i}.{q(DS)} = __d{i} "
                      f"THEN __b{i}.f{j} ELSE {c.empty} END AS {q(c.output)}" for j, c in enumerate(view.columns)]
        else:
            ctes += _latest_rows(view, alias, spine)
            null_when = [f"{t} IS NULL", *no_key]
            if view.ttl_seconds is not None:
                null_when.append(f"{t} - unix_micros(__b{i}.ts) > {view.ttl_seconds * 1_000_000}")
            exprs += [f"CASE WHEN {' OR '.join(null_when)} THEN NULL ELSE __b{i}.f{j} END AS {q(c.output)}"
                      for j, c in enumerate(view.columns)]
    indexes = [i for i, _ in members]
    key_list = ", ".join(q(k) for k in keys)
    # the spine's rows (tag 1): keys as the views type them, the time, D* of each aggregate view, the whole
    # row; a row with a null key sees nothing, and a salt spreads those rows instead of gathering them all
    salt = f"CASE WHEN {' OR '.join(f's.{q(k)} IS NULL' for k in keys)} THEN s.{SPINE_TS} ELSE 0 END"
    spine_cols = [*(f"{_key(k, types)} AS {q(k)}" for k in keys), f"s.{SPINE_TS} AS _vis", "1 AS _tag",
                  f"{salt} AS _salt", "struct(s.*) AS __row", *(f"c{i}.dstar AS __d{i}" for i, _ in calendars),
                  *(f"NULL AS __r{i}" for i in indexes)]
    branches = [f"    SELECT {', '.join(spine_cols)}\n    FROM {base} s" +
                "".join(f"\n    {join}" for _, join in calendars)]
    for i in indexes:
        cols = [key_list, "_vis", "_tag", "0", "NULL", *("NULL" for _ in calendars),
                *("_row" if r == i else "NULL" for r in indexes)]
        branches.append(f"    SELECT {', '.join(cols)}\n    FROM v{i}_rows")
    window = f"PARTITION BY {key_list}, _salt ORDER BY _vis, _tag ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    seen = [*(f"__d{i}" for i, _ in calendars), *(f"max(__r{i}) OVER ({window}) AS __b{i}" for i in indexes)]
    ctes.append(f"{name}_stream AS (\n  SELECT {key_list}, _tag, __row,\n         " + ",\n         ".join(seen) +
                "\n  FROM (\n" + "\n    UNION ALL\n".join(branches) + "\n  )\n)")
    ctes.append(f"{name} AS (\n  SELECT __row.*,\n         " + ",\n         ".join(exprs) +
                f"\n  FROM {name}_stream\n  WHERE _tag = 1\n)")
    return ctes


def _target(view: ViewRead, s: str) -> str:
    """The newest day D with S(D) + delay <= t, as a Unix day (floor((t - delay) / 1 day) - 1), capped at the
    last materialized day (later days map to it)."""
    delay_us = view.availability_delay_seconds * 1_000_000
    return f"least(floor(({s}.{SPINE_TS} - {delay_us}) / {DAY_US}) - 1, {_unix_day(_lit_date(max(view.days)))})"


def _aggregate_rows(view: ViewRead, alias: str, spine: Spine, types: dict[str, str]) -> list[str]:
    """The calendar (day -> D*) and the snapshot rows (tag 0), visible from S(ds) + delay."""
    delay_us = view.availability_delay_seconds * 1_000_000
    days = sorted(set(view.days))
    # every day from the first materialized one to the last -> the newest materialized day at or before it
    # (computed here: a few hundred literal rows, broadcast; a gap maps to the day before it)
    have, newest, calendar = set(days), days[0], []
    for n in range((days[-1] - days[0]).days + 1):
        day = _shift(days[0], n)
        newest = day if day in have else newest
        calendar.append(f"({(day - EPOCH).days}, {_lit_date(newest)})")
    ctes = [f"{alias}_cal AS (\n  SELECT col1 AS day, col2 AS dstar FROM VALUES {', '.join(calendar)}\n)"]
    # the snapshot rows the spine can reach: partition pruning on ds; only materialized days (a row of
    # another day must never hide D*'s)
    lo = days[0]
    if spine.first is not None and view.ttl_seconds is not None:  # older days are past the ttl anyway
        lo = max(lo, _shift(spine.first, -2 - -(-view.ttl_seconds // 86_400)))
    hi = days[-1] if spine.last is None else min(days[-1], spine.last)
    reach = [d for d in days if lo <= d <= hi] or [days[0]]
    row = f"named_struct('{DS}', f.{q(DS)}, " + ", ".join(f"'f{j}', f.{q(c.name)}"
                                                        for j, c in enumerate(view.columns)) + ")"
    keys = view.join_keys
    where = [f"f.{q(DS)} BETWEEN {_lit_date(reach[0])} AND {_lit_date(reach[-1])}",
             f"f.{q(DS)} IN ({', '.join(_lit_date(d) for d in reach)})", *(f"f.{q(k)} IS NOT NULL" for k in keys)]
    semi = ""
    if spine.broadcast_pairs:
        # the (keys, D*) pairs the spine asks for, as one 64-bit hash each (duplicates are harmless): a
        # broadcast semi-join on it cuts the snapshot down while reading it, before the shuffle. A hash
        # collision only lets through a row of another materialized day, which the stream ignores, so the
        # answer stays exact
        pair = ", ".join(_key(k, types) for k in keys)
        ctes.append(f"{alias}_want AS (\n  SELECT xxhash64({pair}, c.dstar) AS pair\n"
                    f"  FROM spine s JOIN {alias}_cal c ON c.day = {_target(view, 's')}\n"
                    f"  WHERE " + " AND ".join(f"s.{q(k)} IS NOT NULL" for k in keys) + "\n)")
        table_pair = ", ".join(f"CAST(f.{q(k)} AS {types[k]})" if k in types else f"f.{q(k)}" for k in keys)
        semi = f"\n  LEFT SEMI JOIN {alias}_want w ON xxhash64({table_pair}, f.{q(DS)}) = w.pair"
    hint = "/*+ BROADCAST(w) */ " if spine.broadcast_pairs else ""
    ctes.append(f"{alias}_rows AS (\n  SELECT {hint}{', '.join(f'f.{q(k)}' for k in keys)}, "
                f"({_unix_day(f'f.{q(DS)}')} + 1) * {DAY_US} + {delay_us} AS _vis, 0 AS _tag, {row} AS _row\n"
                f"  FROM {view.table} VERSION AS OF {view.table_version} f{semi}\n  WHERE {' AND '.join(where)}\n)")
    return ctes


def _latest_rows(view: ViewRead, alias: str, spine: Spine) -> list[str]:
    """The view's rows, visible from greatest(event time, created time): tag 0 when visible at t = that
    time, 2 when only after it (event_ts < t, strict cutoff)."""
    feature_cols = [c.name for c in view.columns]
    created = f"coalesce({q(CREATED)}, {q(TS)})" if view.has_created else q(TS)
    # visible at t from: event < t (strict) or event <= t (inclusive_cutoff), and created <= t
    ts_us, created_us = f"unix_micros({q(TS)})", f"unix_micros({created})"
    visible = f"greatest({ts_us}, {created_us})"
    # tag 0: visible at t = _vis; 2: only after (strict cutoff, created <= event time)
    tag = "0" if view.inclusive_cutoff else f"CASE WHEN {created_us} > {ts_us} THEN 0 ELSE 2 END"
    created_field = q(CREATED) if view.has_created else "CAST(NULL AS TIMESTAMP)"
    winner = f"named_struct('ts', {q(TS)}, 'created', {created_field}, " + \
        ", ".join(f"'f{j}', {q(n)}" for j, n in enumerate(feature_cols)) + ")"
    where = [f"{q(k)} IS NOT NULL" for k in view.join_keys]
    if spine.last is not None:
        where.append(f"{q(DS)} <= {_lit_date(spine.last)}")
    if view.ttl_seconds is not None and spine.first is not None:
        where.append(f"{q(DS)} >= {_lit_date(_shift(spine.first, -(view.ttl_seconds // 86_400) - 1))}")
    return [f"{alias}_rows AS (\n  SELECT {', '.join(q(k) for k in view.join_keys)}, {visible} AS _vis, {tag} AS _tag, "
            f"{winner} AS _row\n  FROM {view.table} VERSION AS OF {view.table_version}\n"
            f"  WHERE {' AND '.join(where)}\n)"]


def _shift(d: date, days: int) -> date:
    return d + timedelta(days=days)

