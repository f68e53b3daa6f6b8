"""The Feature catalog page of the Airflow UI (served by plugins/pitstop_catalog.py at /pitstop/catalog).

Every view of the compiled plan: its features (name, function, window, dtype), owner, version and
description; its freshness offline (the newest day in its materialization log, read with pyarrow: no
Spark) and online (the published day and staleness, from Redis); its DAG's last run and data interval and
the last consistency check (the ``monitor`` task), from Airflow's metadata database; the last validation
attempt and the drift alerts of the newest validated day (the views' quality tables); and a link to the DAG.

Three layers, each testable alone:

- pure: :func:`build_catalog` turns the plan and what was gathered into one JSON document (the
  ``/pitstop/api/catalog`` answer) and :func:`render_html` renders that document as one self-contained
  page (inline CSS, no external assets, so it works offline and inside the UI's iframe);
- gathering: :func:`offline_freshness`, :func:`online_freshness`, :func:`airflow_runs`. Each fails on its
  own into "unavailable: <reason>" (logged with its traceback): a Redis or database outage shows on the
  page instead of breaking it;
- :func:`create_app`: the FastAPI app, built on the plugin's first request. Answers are cached for
  ``CACHE_SECONDS``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.config import Config, load_config
from pitstop.errors import PitstopError, PlanError
from pitstop.orchestration.readiness import read_delta_table
from pitstop.plan import naming
from pitstop.plan.model import Plan
from pitstop.stores import delta
from pitstop.stores.online import snapshot_time

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
MONITOR_TASK = "monitor"  # the DAG task that runs the sampled Delta-vs-Redis consistency check
DAY_SECONDS = 86_400
DRIFT_METRICS = ("psi", "kl")


# ---------------------------------------------------------------------------------------------------------
# pure: the document and its page


def human_duration(seconds: float) -> str:
    """42s, 12m, 5h 12m, 3d 4h; negative durations get a leading minus."""
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    whole = int(seconds)
    days, rest = divmod(whole, DAY_SECONDS)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    elif minutes:
        text = f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def freshness_lag(ds: date, now: datetime) -> dict[str, Any]:
    """How old the snapshot of ``ds`` is at ``now``: the lag is now - S(ds) (S(ds) = ds + 1 day, 00:00
    UTC, the moment the snapshot describes), and days_behind counts the whole days since then, i.e. the
    later days whose snapshot could exist by now and does not."""
    taken = snapshot_time(ds)
    lag = (now - taken).total_seconds()
    return {"ds": ds.isoformat(), "snapshot_time": taken.isoformat(), "lag_seconds": int(lag),
            "lag": human_duration(lag), "days_behind": max(0, math.floor(lag / DAY_SECONDS))}


def _feature_rows(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for feature in entry["features"]:
        if entry["kind"] == "latest":  # latest-value views carry source columns as they are
            function, window = "latest value", None
        else:
            function, window = feature["function"], feature["window"] or "lifetime"
        rows.append({"name": feature["name"], "function": function, "column": feature.get("column"),
                     "window": window, "dtype": feature["dtype"]})
    return rows


def _unavailable(reason: str) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason}


def _drift(validation: Mapping[str, Any] | None) -> dict[str, Any]:
    """The drift alerts (PSI, KL) of the newest validated day, from the last-validation part."""
    if validation is None or validation.get("status") != "ok":
        return dict(validation) if validation else _unavailable("not gathered")
    if validation.get("alerts_ds") is None:
        return {"status": "never", "reason": "no day has passed validation yet"}
    alerts = [dict(a) for a in validation.get("alerts") or [] if a["metric"] in DRIFT_METRICS]
    return {"status": "ok", "ds": validation["alerts_ds"], "alerts": alerts}


def build_catalog(plan: Mapping[str, Any], *, now: datetime,
                  offline: Mapping[str, dict[str, Any]] | None = None,
                  online: Mapping[str, dict[str, Any]] | None = None,
                  airflow: Mapping[str, dict[str, Any]] | None = None,
                  quality: Mapping[str, dict[str, Any]] | None = None,
                  base_url: str = "") -> dict[str, Any]:
    """The catalog document (JSON-ready) from the plan and the gathered parts (a part missing for a view
    becomes "unavailable")."""
    offline, online, airflow, quality = offline or {}, online or {}, airflow or {}, quality or {}
    views = []
    for name, entry in sorted(plan["views"].items()):
        dag_id = entry["dag_id"]
        if entry["online"]:
            online_part = online.get(name, _unavailable("not gathered"))
        else:
            online_part = {"status": "not_online", "reason": "online=False: the view is offline only"}
        run = airflow.get(dag_id) or _unavailable("not gathered")
        if run.get("status") == "unavailable":
            last_run, consistency, paused = run, run, None
        else:
            last_run, consistency, paused = run["last_run"], run["consistency"], run["paused"]
        if not entry["online"]:
            consistency = {"status": "not_online", "reason": "offline-only views have no monitor task"}
        views.append({
            "name": name,
            "version": entry["version"],
            "kind": entry["kind"],
            "description": entry.get("description") or "",
            "owner": entry.get("owner") or "",
            "tags": dict(entry.get("tags") or {}),
            "entities": list(entry["entities"]),
            "join_keys": [k["name"] for k in entry["join_keys"]],
            "source": entry["source"]["name"],
            "online": bool(entry["online"]),
            "schedule": (entry.get("dag") or {}).get("schedule"),
            "ttl": human_duration(entry["ttl_seconds"]) if entry.get("ttl_seconds") is not None else None,
            "dag_id": dag_id,
            "dag_url": f"{base_url.rstrip('/')}/dags/{dag_id}",
            "features": _feature_rows(entry),
            "offline": offline.get(name, _unavailable("not gathered")),
            "online_store": online_part,
            "last_run": last_run,
            "consistency": consistency,
            "paused": paused,
            "validation": quality.get(name, _unavailable("not gathered")),
            "drift": _drift(quality.get(name)),
        })
    return {"project": plan["project"], "plan_fingerprint": plan["fingerprint"],
            "generated_at": now.isoformat(timespec="seconds"), "views": views}


_CSS = """
*{box-sizing:border-box}
body{margin:0;padding:20px 24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:#1f2933;background:#f7f8fa}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:16px;margin:0}
.sub{color:#616e7c;margin:0 0 16px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#52606d;background:#f0f2f5}
.summary{border:1px solid #e4e7eb;border-radius:6px;overflow:hidden;margin-bottom:22px}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:14px 16px;margin-bottom:16px}
.card header{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap;margin-bottom:6px}
.card p{margin:4px 0 10px}
.meta{color:#52606d;font-size:13px}
.features th,.features td{padding:4px 10px;font-size:13px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:#0b63c5;text-decoration:none}a:hover{text-decoration:underline}
.b{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{background:#e3f9e5;color:#0e6027}.warn{background:#fff3c4;color:#8d2b0b}
.bad{background:#ffe3e3;color:#a61b1b}.off{background:#e4e7eb;color:#3e4c59}
.run{background:#dceefb;color:#0b4f8a}
.small{font-size:12px;color:#616e7c}
"""

_STATE_CLASS = {"success": "ok", "failed": "bad", "upstream_failed": "bad", "running": "run", "queued": "run",
                "scheduled": "run", "deferred": "run", "up_for_retry": "warn", "restarting": "warn",
                "skipped": "off", "removed": "off"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _badge(text: str, css: str) -> str:
    return f'<span class="b {css}">{_e(text)}</span>'


def _reason(part: Mapping[str, Any]) -> str:
    return _badge("unavailable:", "bad") + f' <span class="small">{_e(part.get("reason"))}</span>'


def _offline_cell(part: Mapping[str, Any]) -> str:
    if part.get("status") == "ok":
        behind = part["days_behind"]
        badge = _badge("current", "ok") if behind == 0 else _badge(f"{behind} day{'s' * (behind != 1)} behind",
                                                                    "warn")
        return (f"<code>{_e(part['ds'])}</code> {badge}<br><span class=small>lag {_e(part['lag'])} · "
                f"{_e(part['days'])} day(s) logged</span>")
    if part.get("status") == "never":
        return _badge("never materialized", "off")
    return _reason(part)


def _online_cell(part: Mapping[str, Any]) -> str:
    status = part.get("status")
    if status == "ok":
        badge = _badge("stale", "warn") if part["stale"] else _badge("fresh", "ok")
        return (f"<code>{_e(part['ds'])}</code> {badge}<br><span class=small>lag {_e(part['lag'])} · "
                f"Delta v{_e(part['delta_version'])}</span>")
    if status == "never_published":
        return _badge("never published", "warn") + ' <span class="small">stale: reads return nulls</span>'
    if status == "not_online":
        return _badge("offline only", "off")
    return _reason(part)


def _interval(part: Mapping[str, Any]) -> str:
    start, end = part.get("data_interval_start"), part.get("data_interval_end")
    if not start:
        return ""
    return f"<br><span class=small>{_e(start[:16].replace('T', ' '))} → {_e((end or '')[:16].replace('T', ' '))}</span>"


def _run_cell(part: Mapping[str, Any], paused: bool | None) -> str:
    status = part.get("status")
    if status == "ok":
        state = part.get("state") or "none"
        paused_badge = " " + _badge("paused", "off") if paused else ""
        return (_badge(state, _STATE_CLASS.get(state, "off")) + paused_badge
                + f' <span class="small">{_e(part.get("run_type"))}</span>' + _interval(part))
    if status in ("no_runs", "not_in_airflow"):
        paused_badge = " " + _badge("paused", "off") if paused else ""
        return _badge("no runs" if status == "no_runs" else "not in Airflow", "off") + paused_badge + \
            f'<br><span class="small">{_e(part.get("reason"))}</span>'
    return _reason(part)


def _check_cell(part: Mapping[str, Any]) -> str:
    status = part.get("status")
    if status == "ok":
        state = part.get("state") or "none"
        return _badge(state, _STATE_CLASS.get(state, "off")) + (
            f"<br><span class=small>ds {_e(part.get('ds'))}</span>" if part.get("ds") else "")
    if status == "not_online":
        return _badge("n/a: offline only", "off")
    if status in ("never", "not_in_airflow"):
        return _badge("never ran", "off")
    return _reason(part)


def _validation_cell(part: Mapping[str, Any]) -> str:
    if part.get("status") == "never":
        return _badge("never ran", "off")
    if part.get("status") != "ok":
        return _reason(part)
    badge = _badge("passed", "ok") if part["success"] else _badge("failed", "bad")
    counts = f"{part['errors']} error(s), {part['warnings']} warning(s)" if not part["success"] else \
        f"{part['warnings']} warning(s)"
    return (f'<span title="{_e(part.get("summary"))}">{badge}</span><br><span class=small>ds {_e(part["ds"])}'
            f"{' (by hand)' if part.get('by_hand') else ''} · {_e(counts)}</span>")


def _drift_cell(part: Mapping[str, Any]) -> str:
    if part.get("status") == "never":
        return _badge("no data", "off")
    if part.get("status") != "ok":
        return _reason(part)
    alerts = part["alerts"]
    if not alerts:
        return _badge("no drift", "ok") + f"<br><span class=small>ds {_e(part['ds'])}</span>"
    worst = "bad" if any(a["severity"] == "error" for a in alerts) else "warn"
    title = "; ".join(f"{a['feature']} {a['metric']} vs {a['against']} {a['value']:.3g} > {a['threshold']:g}"
                      for a in alerts)
    return (f'<span title="{_e(title)}">{_badge(f"{len(alerts)} alert(s)", worst)}</span>'
            f"<br><span class=small>ds {_e(part['ds'])} · "
            f"{_e(', '.join(sorted({a['feature'] for a in alerts}))[:80])}</span>")


def _dag_link(view: Mapping[str, Any]) -> str:
    # relative to /pitstop/catalog, so it also works when Airflow is served under a path prefix; _top leaves
    # the UI's iframe
    return f'<a href="../dags/{_e(view["dag_id"])}" target="_top"><code>{_e(view["dag_id"])}</code></a>'


def render_html(doc: Mapping[str, Any]) -> str:
    """The catalog document as one self-contained HTML page."""
    rows, cards = [], []
    for v in doc["views"]:
        anchor = f"view-{_e(v['name'])}"
        rows.append(
            f'<tr><td><a href="#{anchor}"><b>{_e(v["name"])}</b></a> <span class=small>v{_e(v["version"])}</span>'
            f'<br><span class=small>{_e(v["owner"])}</span></td>'
            f"<td>{_offline_cell(v['offline'])}</td><td>{_online_cell(v['online_store'])}</td>"
            f"<td>{_run_cell(v['last_run'], v.get('paused'))}</td><td>{_check_cell(v['consistency'])}</td>"
            f"<td>{_validation_cell(v['validation'])}</td><td>{_drift_cell(v['drift'])}</td>"
            f"<td>{_dag_link(v)}</td></tr>")
        features = "".join(
            f"<tr><td><code>{_e(f['name'])}</code></td><td>{_e(f['function'])}</td>"
            f"<td>{_e(f['column'] or '')}</td><td>{_e(f['window'] or '—')}</td><td>{_e(f['dtype'])}</td></tr>"
            for f in v["features"])
        tags = ", ".join(f"{k}={val}" for k, val in sorted(v["tags"].items()))
        cards.append(
            f'<section class="card" id="{anchor}"><header><h2>{_e(v["name"])} '
            f'<span class=small>v{_e(v["version"])}</span></h2>'
            f'<span class="meta">{_e(v["kind"])} view · entities {_e(", ".join(v["entities"]))} '
            f'(key {_e(", ".join(v["join_keys"]))}) · source {_e(v["source"])} · owner {_e(v["owner"])}'
            f'{" · tags " + _e(tags) if tags else ""} · schedule {_e(v["schedule"])}'
            f'{" · ttl " + _e(v["ttl"]) if v["ttl"] else ""}</span>'
            f'<span class="meta">DAG {_dag_link(v)}</span></header>'
            f'<p>{_e(v["description"]) or "<i>no description</i>"}</p>'
            f'<table class="features"><tr><th>feature</th><th>function</th><th>column</th><th>window</th>'
            f"<th>dtype</th></tr>{features}</table></section>")
    count = len(doc["views"])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Feature catalog · {_e(doc['project'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Feature catalog</h1><p class=sub>project <b>{_e(doc['project'])}</b> · {count} view"
        f"{'s' * (count != 1)} · plan <code>{_e(doc['plan_fingerprint'])}</code> · as of "
        f"{_e(doc['generated_at'].replace('T', ' ').replace('+00:00', ' UTC'))} · "
        f'<a href="api/catalog">JSON</a></p>'
        '<div class="summary"><table><tr><th>view</th><th>offline (last materialized)</th>'
        "<th>online (published)</th><th>last DAG run</th><th>consistency check</th><th>validation</th>"
        f"<th>drift</th><th>DAG</th></tr>{''.join(rows)}</table></div>{''.join(cards)}</body></html>")


# ---------------------------------------------------------------------------------------------------------
# gathering: each part on its own


def _reason_of(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, PitstopError) else f"{type(exc).__name__}: {exc}"


def offline_freshness(config: Config, plan: Mapping[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    """Per view: the newest day in its materialization log (a day counts once its snapshot is committed)."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in sorted(plan["views"].items()):
        path = delta.table_path(config.offline_store_path, naming.log_table(name, int(entry["version"])))
        try:
            table = read_delta_table(path, ["ds", "kind"], s3=config.arrow_s3())
        except FileNotFoundError:
            out[name] = {"status": "never", "reason": f"no materialization log at {path} yet"}
            continue
        except Exception as exc:  # shown on the page; the page itself stays up
            log.exception("catalog: reading the materialization log of %s failed", name)
            out[name] = _unavailable(f"cannot read the materialization log {path}: {_reason_of(exc)}")
            continue
        days = sorted({ds for ds, kind in zip(table.column("ds").to_pylist(), table.column("kind").to_pylist(),
                                              strict=True) if kind == "snapshot"}) if table.num_rows else []
        if not days:
            out[name] = {"status": "never", "reason": "the materialization log records no snapshot yet"}
            continue
        out[name] = {"status": "ok", **freshness_lag(days[-1], now), "first_ds": days[0].isoformat(),
                     "days": len(days)}
    return out


def online_freshness(config: Config, plan: dict[str, Any], now: datetime) -> dict[str, dict[str, Any]]:
    """Per online view: what Redis serves (ds, lag, stale over the view's ttl). One failure to reach Redis
    marks every view unavailable with its reason (no retry storm per view)."""
    from pitstop.runtime.online import OnlineReader

    names = sorted(n for n, e in plan["views"].items() if e["online"])
    if not names:
        return {}
    try:
        reader = OnlineReader(config, Plan.from_json(plan))
    except Exception as exc:
        log.exception("catalog: connecting to the online store failed")
        return {n: _unavailable(_reason_of(exc)) for n in names}
    out: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            try:
                meta = reader.published(name, now)
            except Exception as exc:
                log.exception("catalog: reading what is published for %s failed", name)
                reason = _reason_of(exc)
                return {**out, **{n: _unavailable(reason) for n in names if n not in out}}
            if meta.ds is None:
                out[name] = {"status": "never_published", "stale": True}
            else:
                out[name] = {"status": "ok", **freshness_lag(meta.ds, now), "stale": meta.stale,
                             "delta_version": meta.delta_version}
        return out
    finally:
        reader.close()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _last_run(run: Any, paused: bool) -> dict[str, Any]:
    if run is None:
        return {"status": "no_runs", "reason": "no run yet" + (" (the DAG is paused)" if paused else "")}
    return {"status": "ok", "run_id": run.run_id, "state": str(run.state) if run.state else None,
            "run_type": str(run.run_type), "data_interval_start": _iso(run.data_interval_start),
            "data_interval_end": _iso(run.data_interval_end), "start_date": _iso(run.start_date),
            "end_date": _iso(run.end_date)}


def _consistency(check: tuple[Any, ...] | None, monitor_task: str) -> dict[str, Any]:
    if check is None:
        return {"status": "never", "reason": f"no finished {monitor_task} task yet"}
    _, state, end_date, interval_start, run_id = check
    return {"status": "ok", "state": str(state) if state else None, "end_date": _iso(end_date),
            "ds": interval_start.date().isoformat() if interval_start else None, "run_id": run_id}


def airflow_runs(dag_ids: list[str], monitor_task: str = MONITOR_TASK) -> dict[str, dict[str, Any]]:
    """Per DAG, from Airflow's metadata database (the api-server has access): whether it is known and
    paused, its newest run (by run_after) with its state and data interval, and the newest finished
    ``monitor`` task instance (the consistency check)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    out: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        known = {d.dag_id: d for d in session.scalars(select(DagModel).where(DagModel.dag_id.in_(dag_ids)))}
        newest = (select(DagRun.dag_id, func.max(DagRun.run_after).label("run_after"))
                  .where(DagRun.dag_id.in_(dag_ids)).group_by(DagRun.dag_id).subquery())
        runs: dict[str, Any] = {}
        for dag_run in session.scalars(select(DagRun).join(newest, (DagRun.dag_id == newest.c.dag_id)
                                                           & (DagRun.run_after == newest.c.run_after))):
            if dag_run.dag_id not in runs or dag_run.id > runs[dag_run.dag_id].id:
                runs[dag_run.dag_id] = dag_run
        finished = (select(TaskInstance.dag_id, func.max(TaskInstance.end_date).label("end_date"))
                    .where(TaskInstance.dag_id.in_(dag_ids), TaskInstance.task_id == monitor_task,
                           TaskInstance.end_date.is_not(None)).group_by(TaskInstance.dag_id).subquery())
        checks: dict[str, tuple[Any, ...]] = {}
        query = (select(TaskInstance.dag_id, TaskInstance.state, TaskInstance.end_date,
                        DagRun.data_interval_start, DagRun.run_id)
                 .join(finished, (TaskInstance.dag_id == finished.c.dag_id)
                       & (TaskInstance.end_date == finished.c.end_date))
                 .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                 .where(TaskInstance.task_id == monitor_task))
        for row in session.execute(query):
            checks[row[0]] = tuple(row)
        for dag_id in dag_ids:
            model = known.get(dag_id)
            if model is None:
                missing = {"status": "not_in_airflow",
                           "reason": "not in Airflow's database yet: the DAG processor has not parsed dags/ "
                                     "(or the DAG file failed to import)"}
                out[dag_id] = {"status": "ok", "paused": None, "last_run": missing, "consistency": missing}
                continue
            out[dag_id] = {"status": "ok", "paused": bool(model.is_paused),
                           "last_run": _last_run(runs.get(dag_id), bool(model.is_paused)),
                           "consistency": _consistency(checks.get(dag_id), monitor_task)}
    return out


def gather(repo: Path, now: datetime | None = None, *,
           runs: Callable[[list[str]], dict[str, dict[str, Any]]] = airflow_runs,
           base_url: str = "") -> dict[str, Any]:
    """The catalog document for the repository's compiled plan, every part gathered now."""
    now = now or datetime.now(UTC)
    config = load_config(repo)
    if not config.plan_path.is_file():
        raise PlanError(f"no compiled plan at {config.plan_path}: run `pitstop apply` in {config.repo}")
    plan: dict[str, Any] = json.loads(config.plan_path.read_text())
    try:
        airflow = runs([e["dag_id"] for _, e in sorted(plan["views"].items())])
    except Exception as exc:
        log.exception("catalog: reading Airflow's metadata database failed")
        airflow = {e["dag_id"]: _unavailable(f"Airflow's database: {_reason_of(exc)}")
                   for e in plan["views"].values()}
    from pitstop.runtime.status import last_validation

    quality = {name: last_validation(config, name, entry) for name, entry in sorted(plan["views"].items())}
    return build_catalog(plan, now=now, offline=offline_freshness(config, plan, now),
                         online=online_freshness(config, plan, now), airflow=airflow, quality=quality,
                         base_url=base_url)


@dataclass
class CatalogCache:
    """The newest document, rebuilt at most every ``seconds`` (requests in between share it)."""

    build: Callable[[], dict[str, Any]]
    seconds: float = CACHE_SECONDS
    _doc: dict[str, Any] | None = None
    _at: float = -math.inf

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._doc is None or time.monotonic() - self._at >= self.seconds:
                self._doc = self.build()
                self._at = time.monotonic()
            return self._doc


# ---------------------------------------------------------------------------------------------------------
# the web app


def create_app(repo: Path) -> FastAPI:
    """The plugin's FastAPI app (mounted at /pitstop): ``/catalog`` (HTML) and ``/api/catalog`` (JSON), for
    users the Airflow auth manager has logged in (the UI's cookie, or a bearer token)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from airflow.configuration import conf
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

    base_url = conf.get("api", "base_url", fallback="") or ""
    cache = CatalogCache(lambda: gather(repo, base_url=base_url))
    app = FastAPI(title="pitstop feature catalog", docs_url=None, redoc_url=None, openapi_url=None)
    authenticated = [Depends(requires_authenticated())]

    @app.exception_handler(HTTPException)
    async def login_first(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 401 and request.scope.get("route") is page_route:  # a person: to the login page
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        return await http_exception_handler(request, exc)

    def document() -> dict[str, Any]:
        try:
            return cache.get()
        except Exception as exc:  # no plan, unreadable pitstop.yaml: say so, with the fix in the message
            log.exception("catalog: building the catalog of %s failed", repo)
            raise HTTPException(status_code=503, detail=f"feature catalog of {repo}: {_reason_of(exc)}") from exc

    @app.get("/catalog", response_class=HTMLResponse, dependencies=authenticated)
    def catalog_page() -> HTMLResponse:
        return HTMLResponse(render_html(document()))

    page_route = next(r for r in app.routes if getattr(r, "endpoint", None) is catalog_page)

    @app.get("/api/catalog", dependencies=authenticated)
    def catalog_json() -> JSONResponse:
        return JSONResponse(document())

    return app
