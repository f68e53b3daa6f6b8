"""PURE: which days an Airflow run materializes, and the DAG documentation shown in the UI.

A run whose data interval is [start, end) materializes every day D with S(D) = D+1 00:00 UTC in
(start, end]: for ``@daily`` exactly the day D of the interval [D, D+1) (docs/semantics.md); for a cron such
as ``0 6 * * *`` the day that ended inside the interval; for ``@weekly`` the seven days of the week.
Trigger params ``start`` / ``end`` replace the data interval with an explicit range of days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pitstop.errors import UsageError
from pitstop.plan.model import Plan, View


def snapshot_time(day: date) -> datetime:
    """S(D): the moment the snapshot of day D is taken (D+1 00:00 UTC)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def interval_days(start: datetime, end: datetime) -> tuple[date, date] | None:
    """The first and last day D with start < S(D) <= end, or None when the interval holds no midnight.

    S(D) > start holds from D = start's day on (S(start's day - 1) is start's day at 00:00, never after
    start); S(D) <= end up to the day before end's day."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date() - timedelta(days=1)
    return (first, last) if first <= last else None


def _param_day(params: Mapping[str, Any], key: str) -> date | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise UsageError(f"param {key}={value!r} is not a day in YYYY-MM-DD form") from exc


def run_days(interval_start: datetime | None, interval_end: datetime | None,
             params: Mapping[str, Any]) -> tuple[date, date] | None:
    """The days a run materializes: params start/end when given (both, or one with the interval's other
    end), else the data interval's days. None: nothing to do (an interval without a midnight)."""
    start, end = _param_day(params, "start"), _param_day(params, "end")
    if start is None or end is None:
        if interval_start is None or interval_end is None:
            if start is None and end is None:
                raise UsageError("this run has no data interval (a manual run without a logical date): "
                                 "trigger it with params start and end (YYYY-MM-DD), or with a logical date")
            start = start or end
            end = end or start
        else:
            days = interval_days(interval_start, interval_end)
            if days is None and start is None and end is None:
                return None
            start = start or (days[0] if days else end)
            end = end or (days[1] if days else start)
    assert start is not None and end is not None
    if start > end:
        raise UsageError(f"params start={start} is after end={end}: give start <= end")
    return start, end


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "none"
    days, rest = divmod(seconds, 86_400)
    if rest == 0:
        return f"{days} day(s)"
    return f"{seconds / 3600:g} hour(s)"


def view_doc_md(name: str, entry: View, plan: Plan) -> str:
    """The DAG's documentation in the Airflow UI: what the DAG computes, from the compiled plan."""
    src = entry.source
    keys = ", ".join(f"`{k.name}` ({k.dtype})" for k in entry.join_keys)
    lines = [
        f"# {name} v{entry.version}",
        "",
        entry.description or "_no description_",
        "",
        "| | |",
        "|---|---|",
        f"| owner | {entry.owner or '—'} |",
        f"| kind | {'windowed aggregates' if entry.kind == 'aggregate' else 'latest values'} |",
        f"| entities | {', '.join(entry.entities)} (keys: {keys}) |",
        f"| source | `{src.name}`: {src.format} at `{src.path}`, event time `{src.timestamp_field}`"
        + (f", created time `{src.created_timestamp_field}`" if src.created_timestamp_field else "")
        + " |",
        f"| filter | {('`' + entry.filter + '`') if entry.filter else '—'} |",
        f"| schedule | `{entry.dag.schedule}` (UTC; the run for [D, D+1) materializes D) |",
        f"| ttl | {_duration(entry.ttl_seconds)} |",
        f"| lateness | {entry.lateness_days} day(s) |",
        f"| online | {'yes (published to Redis)' if entry.online else 'no'} |",
        f"| tables | {', '.join('`' + t + '`' for t in entry.tables.to_json().values())} |",
        f"| fingerprints | data `{entry.data_fingerprint}`, metadata `{entry.metadata_fingerprint}`; "
        f"plan `{plan.fingerprint}` |",
        "",
        "## Features",
        "",
    ]
    if entry.kind == "aggregate":
        lines += ["| feature | function | column | window | type | empty window |", "|---|---|---|---|---|---|"]
        lines += [f"| `{f.name}` | {f.function} | {f.column or '—'} | {f.window} | {f.dtype} | "
                  f"{'null' if f.empty_value is None else f.empty_value} |" for f in entry.features]
    else:
        lines += ["| feature | type |", "|---|---|"]
        lines += [f"| `{f.name}` | {f.dtype} |" for f in entry.features]
    lines += [
        "",
        "## Tasks",
        "",
        "`wait_for_source` (the source holds every event before S(D)) → `compute` (tiles and snapshots "
        f"into Delta, then the validation gate: {len(entry.suite)} checks, "
        "statistics and drift; a failing day fails the task without retries and is rolled back) → "
        + ("`publish` (atomic switch in Redis; an older day never replaces a newer one) → "
           "`monitor` (sampled Delta-vs-Redis consistency)" if entry.online else "(offline only)"),
        "",
        "Trigger with params `start` / `end` to materialize an explicit range of days in one run; `force` "
        "skips the wait for source data.",
    ]
    return "\n".join(lines) + "\n"
