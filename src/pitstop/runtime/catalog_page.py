"""The Feature catalog page of the Airflow UI (served by plugins/pitstop_catalog.py at /pitstop/catalog).

Every view of the compiled plan: its features (name, function, window, dtype), owner, version and
description; its freshness offline (the newest day in its materialization log, read with pyarrow: no
Spark) and online (the published day and staleness, from Redis); its DAG's last run and data interval and
the last consistency check (the ``monitor`` task), from Airflow's metadata database; the last validation
attempt and the drift alerts of the newest validated day (the views' quality tables); and a link to the DAG.

Two layers here, each testable alone, and no Airflow code:

- pure: :func:`build_catalog` turns the plan and what was gathered into one JSON document (the
  ``/pitstop/api/catalog`` answer) and :func:`render_html` renders that document as one self-contained
  page (the template catalog.html.j2: inline CSS, no external assets, so it works offline and inside the
  UI's iframe);
- :func:`gather`: every part read now. The freshness readers are pitstop.runtime.freshness, the validation
  reader pitstop.runtime.status; the DAG runs come from the ``runs`` function it is given (in the
  api-server, pitstop.orchestration.airflow_db.airflow_runs). Each part fails on its own into
  "unavailable: <reason>" (logged with its traceback): a Redis or database outage shows on the page instead
  of breaking it.

The web app that serves the page (Airflow's login, caching) is pitstop.orchestration.catalog_app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pitstop.config import load_config
from pitstop.errors import PlanError, reason_of
from pitstop.jsontypes import JSONObject
from pitstop.plan import model
from pitstop.plan.model import Plan, View
from pitstop.runtime.context import Context
from pitstop.runtime.freshness import human_duration, offline_freshness, online_freshness, unavailable
from pitstop.runtime.pages import render
from pitstop.runtime.status import last_validation

log = logging.getLogger(__name__)

DRIFT_METRICS = ("psi", "kl")


# ---------------------------------------------------------------------------------------------------------
# pure: the document and its page


def _feature_rows(entry: View) -> list[JSONObject]:
    rows = []
    for feature in entry.features:
        if entry.kind == "latest":  # latest-value views carry source columns as they are
            function: str | None = "latest value"
            window: str | None = None
        else:
            function, window = feature.function, feature.window or "lifetime"
        rows.append({"name": feature.name, "function": function, "column": feature.column,
                     "window": window, "dtype": feature.dtype})
    return rows


def _drift(validation: Mapping[str, Any] | None) -> JSONObject:
    """The drift alerts (PSI, KL) of the newest validated day, from the last-validation part."""
    if validation is None or validation.get("status") != "ok":
        return dict(validation) if validation else unavailable("not gathered")
    if validation.get("alerts_ds") is None:
        return {"status": "never", "reason": "no day has passed validation yet"}
    alerts = [dict(a) for a in validation.get("alerts") or [] if a["metric"] in DRIFT_METRICS]
    return {"status": "ok", "ds": validation["alerts_ds"], "alerts": alerts}


def build_catalog(plan: Plan, *, now: datetime,
                  offline: Mapping[str, JSONObject] | None = None,
                  online: Mapping[str, JSONObject] | None = None,
                  airflow: Mapping[str, JSONObject] | None = None,
                  quality: Mapping[str, JSONObject] | None = None,
                  base_url: str = "") -> JSONObject:
    """The catalog document (JSON-ready) from the plan and the gathered parts (a part missing for a view
    becomes "unavailable")."""
    offline, online, airflow, quality = offline or {}, online or {}, airflow or {}, quality or {}
    views = []
    for name, entry in sorted(plan.views.items()):
        dag_id = entry.dag_id
        if entry.online:
            online_part = online.get(name, unavailable("not gathered"))
        else:
            online_part = {"status": "not_online", "reason": "online=False: the view is offline only"}
        run = airflow.get(dag_id) or unavailable("not gathered")
        if run.get("status") == "unavailable":
            last_run, consistency, paused = run, run, None
        else:
            last_run, consistency, paused = run["last_run"], run["consistency"], run["paused"]
        if not entry.online:
            consistency = {"status": "not_online", "reason": "offline-only views have no monitor task"}
        views.append({
            "name": name,
            "version": entry.version,
            "kind": entry.kind,
            "description": entry.description or "",
            "owner": entry.owner or "",
            "tags": dict(entry.tags),
            "entities": list(entry.entities),
            "join_keys": [k.name for k in entry.join_keys],
            "source": entry.source.name,
            "online": bool(entry.online),
            "schedule": entry.dag.schedule,
            "ttl": human_duration(entry.ttl_seconds) if entry.ttl_seconds is not None else None,
            "dag_id": dag_id,
            "dag_url": f"{base_url.rstrip('/')}/dags/{dag_id}",
            "features": _feature_rows(entry),
            "offline": offline.get(name, unavailable("not gathered")),
            "online_store": online_part,
            "last_run": last_run,
            "consistency": consistency,
            "paused": paused,
            "validation": quality.get(name, unavailable("not gathered")),
            "drift": _drift(quality.get(name)),
        })
    return {"project": plan.project, "plan_fingerprint": plan.fingerprint,
            "generated_at": now.isoformat(timespec="seconds"), "views": views}


def render_html(doc: Mapping[str, Any]) -> str:
    """The catalog document as one self-contained HTML page (the template catalog.html.j2)."""
    return render("catalog.html.j2", doc=doc)


# ---------------------------------------------------------------------------------------------------------
# gathering: each part on its own


def gather(repo: Path, now: datetime | None = None, *,
           runs: Callable[[list[str]], dict[str, JSONObject]], base_url: str = "") -> JSONObject:
    """The catalog document for the repository's compiled plan, every part gathered now; ``runs(dag_ids)``
    reads the DAGs' runs and consistency checks (pitstop.orchestration.airflow_db.airflow_runs)."""
    now = now or datetime.now(UTC)
    config = load_config(repo)
    plan = model.read(config.plan_path)
    if plan is None:
        raise PlanError(f"no compiled plan at {config.plan_path}: run `pitstop apply` in {config.repo}")
    try:
        airflow = runs([e.dag_id for _, e in sorted(plan.views.items())])
    except Exception as exc:
        log.exception("catalog: reading Airflow's metadata database failed")
        airflow = {e.dag_id: unavailable(f"Airflow's database: {reason_of(exc)}")
                   for e in plan.views.values()}
    quality = {name: last_validation(config, name, entry) for name, entry in sorted(plan.views.items())}
    return build_catalog(plan, now=now, offline=offline_freshness(Context(config, plan), now),
                         online=online_freshness(Context(config, plan), now), airflow=airflow, quality=quality,
                         base_url=base_url)
