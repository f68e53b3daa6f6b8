"""How fresh each view is, read without Spark: the newest materialized day (pyarrow on the materialization
log's Delta table) and what Redis serves. ``pitstop status`` and the Feature catalog page both show these.

Each reader fails on its own into ``{"status": "unavailable", "reason": ...}`` (logged with its traceback), so
a Redis or storage outage shows as a reason instead of breaking the table or the page.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime

from pitstop.errors import reason_of
from pitstop.jsontypes import JSONObject
from pitstop.plan import naming
from pitstop.runtime.context import Context
from pitstop.stores import delta
from pitstop.stores.delta_log import read_table as read_delta_table
from pitstop.stores.online import snapshot_time

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400


def unavailable(reason: str) -> JSONObject:
    """A part that could not be read, with the reason."""
    return {"status": "unavailable", "reason": reason}


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


def freshness_lag(ds: date, now: datetime) -> JSONObject:
    """How old the snapshot of ``ds`` is at ``now``: the lag is now - S(ds) (S(ds) = ds + 1 day, 00:00
    UTC, the moment the snapshot describes), and days_behind counts the whole days since then, i.e. the
    later days whose snapshot could exist by now and does not."""
    taken = snapshot_time(ds)
    lag = (now - taken).total_seconds()
    return {"ds": ds.isoformat(), "snapshot_time": taken.isoformat(), "lag_seconds": int(lag),
            "lag": human_duration(lag), "days_behind": max(0, math.floor(lag / DAY_SECONDS))}


def offline_freshness(ctx: Context, now: datetime) -> dict[str, JSONObject]:
    """Per view: the newest day in its materialization log (a day counts once its snapshot is committed)."""
    out: dict[str, JSONObject] = {}
    for name, entry in sorted(ctx.plan.views.items()):
        path = delta.table_path(ctx.config.offline_store_path, naming.log_table(name, int(entry.version)))
        try:
            table = read_delta_table(path, ["ds", "kind"], s3=ctx.config.arrow_s3())
        except FileNotFoundError:
            out[name] = {"status": "never", "reason": f"no materialization log at {path} yet"}
            continue
        except Exception as exc:  # shown on the page; the page itself stays up
            log.exception("freshness: reading the materialization log of %s failed", name)
            out[name] = unavailable(f"cannot read the materialization log {path}: {reason_of(exc)}")
            continue
        days = sorted({ds for ds, kind in zip(table.column("ds").to_pylist(), table.column("kind").to_pylist(),
                                              strict=True) if kind == "snapshot"}) if table.num_rows else []
        if not days:
            out[name] = {"status": "never", "reason": "the materialization log records no snapshot yet"}
            continue
        out[name] = {"status": "ok", **freshness_lag(days[-1], now), "first_ds": days[0].isoformat(),
                     "days": len(days)}
    return out


def online_freshness(ctx: Context, now: datetime) -> dict[str, JSONObject]:
    """Per online view: what Redis serves (ds, lag, stale over the view's ttl). One failure to reach Redis
    marks every view unavailable with its reason (no retry storm per view)."""
    from pitstop.runtime.online import OnlineReader

    names = sorted(n for n, e in ctx.plan.views.items() if e.online)
    if not names:
        return {}
    try:
        reader = OnlineReader(ctx.config, ctx.plan)
    except Exception as exc:
        log.exception("freshness: connecting to the online store failed")
        return {n: unavailable(reason_of(exc)) for n in names}
    out: dict[str, JSONObject] = {}
    try:
        for name in names:
            try:
                meta = reader.published(name, now)
            except Exception as exc:
                log.exception("freshness: reading what is published for %s failed", name)
                reason = reason_of(exc)
                return {**out, **{n: unavailable(reason) for n in names if n not in out}}
            if meta.ds is None:
                out[name] = {"status": "never_published", "stale": True}
            else:
                out[name] = {"status": "ok", **freshness_lag(meta.ds, now), "stale": meta.stale,
                             "delta_version": meta.delta_version}
        return out
    finally:
        reader.close()
