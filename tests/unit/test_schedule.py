"""Which days a run materializes (pure): data intervals, trigger params, and the UI documentation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pitstop.errors import UsageError
from pitstop.orchestration.schedule import interval_days, run_days, snapshot_time, view_doc_md
from pitstop.plan.model import Plan

ROOT = Path(__file__).resolve().parents[2]


def at(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def test_snapshot_time_is_next_midnight_utc() -> None:
    assert snapshot_time(date(2026, 10, 31)) == at(2026, 11, 1)


@pytest.mark.parametrize(("start", "end", "days"), [
    (at(2026, 10, 30), at(2026, 10, 31), (date(2026, 10, 30), date(2026, 10, 30))),  # @daily: [D, D+1) -> D
    (at(2026, 10, 30, 6), at(2026, 10, 31, 6), (date(2026, 10, 30), date(2026, 10, 30))),  # 0 6 * * *
    (at(2026, 10, 26), at(2026, 11, 2), (date(2026, 10, 26), date(2026, 11, 1))),  # @weekly: seven days
    (at(2026, 10, 30, 5), at(2026, 10, 30, 6), None),  # an hour without a midnight: nothing
    (at(2026, 10, 30, 23), at(2026, 10, 31), (date(2026, 10, 30), date(2026, 10, 30))),
])
def test_interval_days(start: datetime, end: datetime, days: tuple[date, date] | None) -> None:
    assert interval_days(start, end) == days


def test_interval_days_converts_other_time_zones_to_utc() -> None:
    from datetime import timedelta, timezone

    plus2 = timezone(timedelta(hours=2))
    assert interval_days(datetime(2026, 10, 30, 2, tzinfo=plus2), datetime(2026, 10, 31, 2, tzinfo=plus2)) == \
        (date(2026, 10, 30), date(2026, 10, 30))


def test_run_days_params_override_the_interval() -> None:
    interval = (at(2026, 10, 30), at(2026, 10, 31))
    assert run_days(*interval, {}) == (date(2026, 10, 30), date(2026, 10, 30))
    assert run_days(*interval, {"start": "2026-10-01", "end": "2026-10-31"}) == (date(2026, 10, 1), date(2026, 10, 31))
    assert run_days(*interval, {"start": "2026-10-01", "end": None}) == (date(2026, 10, 1), date(2026, 10, 30))
    assert run_days(None, None, {"start": "2026-10-05", "end": ""}) == (date(2026, 10, 5), date(2026, 10, 5))
    assert run_days(at(2026, 10, 30, 5), at(2026, 10, 30, 6), {}) is None


def test_run_days_errors_say_what_to_do() -> None:
    with pytest.raises(UsageError, match="trigger it with params start and end"):
        run_days(None, None, {})
    with pytest.raises(UsageError, match="start=2026-10-31 is after end=2026-10-01"):
        run_days(None, None, {"start": "2026-10-31", "end": "2026-10-01"})
    with pytest.raises(UsageError, match="'31/10/2026' is not a day in YYYY-MM-DD form"):
        run_days(None, None, {"start": "31/10/2026"})


def test_doc_md_describes_the_view_from_the_plan() -> None:
    plan = Plan.from_json(json.loads((ROOT / "dags" / "pitstop_plan.json").read_text()))
    doc = view_doc_md("user_transactions", plan.views["user_transactions"], plan)
    assert doc.startswith("# user_transactions v1\n\nHow much, how often and where each card holder spends\n")
    assert "| owner | fraud-team@example.com |" in doc
    assert "| `amount_sum_7d` | sum | amount | 7d | float64 | 0 |" in doc
    assert "| `amount_avg_30d` | avg | amount | 30d | float64 | null |" in doc
    assert "| ttl | 1 day(s) |" in doc
    assert "`publish`" in doc
    profile = view_doc_md("user_profile", plan.views["user_profile"], plan)
    assert "| `credit_limit` | float64 |" in profile
    assert "created time `created_timestamp`" in profile
