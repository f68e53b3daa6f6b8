"""`pitstop status`: one table of every view's health, read without Spark (pyarrow on the Delta logs, Redis).

Per view: the last materialized ds and its freshness lag, what Redis serves, the last validation attempt,
the alerts of the last materialized day, and the last online/offline consistency check. The same readers
fill the validation and drift columns of the Airflow catalog page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pitstop.config import Config
from pitstop.jsontypes import JSONObject, Record
from pitstop.plan import naming
from pitstop.plan.model import View
from pitstop.runtime.catalog import format_table
from pitstop.runtime.context import Context
from pitstop.runtime.freshness import human_duration, offline_freshness, online_freshness
from pitstop.stores import delta
from pitstop.stores.delta_log import read_table as read_delta_table

log = logging.getLogger(__name__)


def _rows(config: Config, path: str) -> list[Record] | None:
    """A small Delta table's rows, or None when there is no table yet."""
    try:
        rows: list[Record] = read_delta_table(path, s3=config.arrow_s3()).to_pylist()
        return rows
    except FileNotFoundError:
        return None


def last_validation(config: Config, name: str, entry: View) -> JSONObject:
    """The newest validation attempt (gate or by hand) of a view version, and the alerts of the newest
    passing attempt of its newest validated ds."""
    path = delta.table_path(config.offline_store_path, naming.quality_table(name, int(entry.version)))
    try:
        rows = _rows(config, path)
    except Exception as exc:  # reported in the table; status stays up
        log.exception("status: reading %s failed", path)
        return {"status": "unavailable", "reason": f"cannot read {path}: {exc}"}
    gate = [r for r in rows or [] if not r["by_hand"]]  # by-hand checks report; they decide nothing
    if not gate:
        return {"status": "never", "reason": "no validation yet"}
    newest = max(r["validated_at"] for r in gate)
    run = max((r for r in gate if r["validated_at"] == newest), key=lambda r: r["run_id"])["run_id"]
    rows_of_run = sorted((r for r in gate if r["run_id"] == run), key=lambda r: r["ds"])
    ok = all(_run_success(r) for r in rows_of_run)
    failed = [r for r in rows_of_run if not r["success"]]
    shown = failed[0] if failed else rows_of_run[-1]
    passed = [r for r in gate if _run_success(r)]
    newest_ds = max((r["ds"] for r in passed), default=None)
    alerts = []
    if newest_ds is not None:
        alerts = [a for a in max((r for r in passed if r["ds"] == newest_ds), key=lambda r: r["validated_at"])
                  ["alerts"] or []]
    return {"status": "ok", "success": ok, "ds": shown["ds"].isoformat(),
            "days": [r["ds"].isoformat() for r in rows_of_run],
            "validated_at": newest.replace(tzinfo=UTC).isoformat(), "errors": sum(r["errors"] for r in rows_of_run),
            "warnings": sum(r["warnings"] for r in rows_of_run), "snapshot_version": shown["snapshot_version"],
            "by_hand": False, "summary": shown["summary"], "result_path": shown["result_path"],
            "alerts_ds": newest_ds.isoformat() if newest_ds else None, "alerts": alerts,
            "failed_attempts": len({r["run_id"] for r in gate if not _run_success(r)})}


def _run_success(row: Record) -> bool:
    """Whether the run the row belongs to committed its days (every day of it passed)."""
    value = row.get("run_success")
    return bool(row["success"] if value is None else value)


def last_consistency(config: Config, name: str, entry: View) -> JSONObject:
    path = delta.table_path(config.offline_store_path, naming.consistency_table(name, int(entry.version)))
    try:
        rows = _rows(config, path)
    except Exception as exc:
        log.exception("status: reading %s failed", path)
        return {"status": "unavailable", "reason": f"cannot read {path}: {exc}"}
    if not rows:
        return {"status": "never", "reason": "no consistency check yet"}
    last = max(rows, key=lambda r: r["checked_at"])
    return {"status": "ok", "ok": bool(last["ok"]), "ds": last["ds"].isoformat(), "checked": last["checked"],
            "mismatches": last["mismatches"], "checked_at": last["checked_at"].replace(tzinfo=UTC).isoformat()}


def gather_status(ctx: Context, now: datetime | None = None) -> list[JSONObject]:
    now = now or datetime.now(UTC)
    offline = offline_freshness(ctx, now)
    online = online_freshness(ctx, now)
    out = []
    for name, entry in sorted(ctx.plan.views.items()):
        out.append({"view": name, "version": entry.version, "online_view": bool(entry.online),
                    "offline": offline.get(name, {}), "online": online.get(name, {"status": "offline_only"}),
                    "validation": last_validation(ctx.config, name, entry),
                    "consistency": last_consistency(ctx.config, name, entry)})
    return out


def _ago(iso: str, now: datetime) -> str:
    return human_duration((now - datetime.fromisoformat(iso)).total_seconds()) + " ago"


def _offline_cell(part: Mapping[str, Any]) -> tuple[str, str]:
    if part.get("status") != "ok":
        return "never", "-"
    return str(part["ds"]), str(part["lag"]) + (f" ({part['days_behind']}d behind)" if part["days_behind"] else "")


def _online_cell(part: Mapping[str, Any]) -> str:
    status = part.get("status")
    if status == "offline_only":
        return "offline view"
    if status == "never_published":
        return "never published"
    if status != "ok":
        return "unavailable: " + str(part.get("reason", ""))[:60]
    return f"{part['ds']} ({part['lag']})" + (" STALE" if part.get("stale") else "")


def _validation_cell(part: Mapping[str, Any], now: datetime) -> str:
    if part.get("status") != "ok":
        return str(part.get("reason", "never"))
    mark = "passed" if part["success"] else "FAILED"
    extra = f", {part['errors']} error(s)" if part["errors"] else ""
    hand = " (by hand)" if part["by_hand"] else ""
    return f"{mark} {part['ds']}{hand}{extra} {_ago(part['validated_at'], now)}"


def _alerts_cell(part: Mapping[str, Any]) -> str:
    if part.get("status") != "ok" or part.get("alerts_ds") is None:
        return "-"
    alerts = part["alerts"]
    if not alerts:
        return f"none ({part['alerts_ds']})"
    errors = sum(1 for a in alerts if a["severity"] == "error")
    metrics = sorted({a["metric"] for a in alerts})
    return f"{len(alerts)} ({errors} error) on {part['alerts_ds']}: {', '.join(metrics)}"


def _consistency_cell(part: Mapping[str, Any], now: datetime) -> str:
    if part.get("status") != "ok":
        return str(part.get("reason", "never"))
    if part["ok"]:
        return f"ok {part['checked']}/{part['checked']} ({part['ds']}) {_ago(part['checked_at'], now)}"
    return f"MISMATCH {part['mismatches']} value(s) ({part['ds']}) {_ago(part['checked_at'], now)}"


def render_status(rows: list[JSONObject], now: datetime) -> str:
    table = [["VIEW", "LAST DS", "FRESHNESS LAG", "ONLINE (SERVED DS, LAG)", "LAST VALIDATION", "ALERTS (LAST DS)",
              "CONSISTENCY"]]
    for row in rows:
        ds, lag = _offline_cell(row["offline"])
        table.append([f"{row['view']} v{row['version']}", ds, lag, _online_cell(row["online"]),
                      _validation_cell(row["validation"], now), _alerts_cell(row["validation"]),
                      _consistency_cell(row["consistency"], now) if row["online_view"] else "-"])
    return format_table(table)


def unhealthy(rows: list[JSONObject]) -> list[str]:
    """Why the repository is not healthy, per view (for `pitstop status --check`)."""
    problems = []
    for row in rows:
        name = row["view"]
        if row["offline"].get("status") != "ok":
            problems.append(f"{name}: never materialized")
        elif row["offline"].get("days_behind"):
            problems.append(f"{name}: {row['offline']['days_behind']} day(s) behind")
        val = row["validation"]
        if val.get("status") == "ok" and not val["success"]:
            problems.append(f"{name}: last validation failed ({val['ds']})")
        if val.get("status") == "ok" and any(a["severity"] == "error" for a in val.get("alerts") or []):
            problems.append(f"{name}: error alerts on {val['alerts_ds']}")
        con = row["consistency"]
        if row["online_view"] and con.get("status") == "ok" and not con["ok"]:
            problems.append(f"{name}: online and offline disagree ({con['mismatches']} value(s))")
        if row["online_view"] and row["online"].get("stale"):
            problems.append(f"{name}: online values are stale")
    return problems



def report_inputs(config: Config, name: str, entry: View) -> tuple[list[JSONObject],
                                                                               list[JSONObject]]:
    """The statistics rows and validation attempts `pitstop report` draws (empty lists when none yet)."""
    version = int(entry.version)
    stats = _rows(config, delta.table_path(config.offline_store_path, naming.stats_table(name, version))) or []
    attempts = _rows(config, delta.table_path(config.offline_store_path, naming.quality_table(name, version))) or []
    return stats, attempts
