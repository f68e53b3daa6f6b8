"""Source readiness for the DAGs' wait_for_source task and materialize's days check: parquet footers (no Spark)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pitstop.orchestration.operators import check_source
from pitstop.plan.model import ViewSource
from pitstop.stores.readiness import check, parquet_max_event_time

S = datetime(2026, 11, 1, tzinfo=UTC)  # S(2026-10-31)
SOURCE = ViewSource("events", "data/events", "parquet", "event_timestamp", None, {}, "max_event_time")


def write(folder: Path, times: list[datetime], name: str = "part-0.parquet", *, tz: bool = True,
          statistics: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    values = times if tz else [t.replace(tzinfo=None) for t in times]
    table = pa.table({"user_id": pa.array(range(len(times)), pa.int64()),
                      "event_timestamp": pa.array(values, pa.timestamp("us", tz="UTC" if tz else None))})
    pq.write_table(table, folder / name, write_statistics=statistics)


def test_parquet_ready_only_once_an_event_at_or_after_s(tmp_path: Path) -> None:
    src = tmp_path / "events"
    write(src / "ds=2026-10-31", [S - timedelta(hours=5), S - timedelta(microseconds=1)])
    result = parquet_max_event_time(str(src), "event_timestamp", S)
    assert not result.ready
    assert result.detail == ("newest event_timestamp in 1 file(s) is 2026-10-31T23:59:59.999999+00:00, before "
                             "2026-11-01T00:00:00+00:00")
    write(src / "ds=2026-11-01", [S])
    result = parquet_max_event_time(str(src), "event_timestamp", S)
    assert result.ready
    assert "ds=2026-11-01" in result.detail  # newest partition read first


def test_naive_timestamps_are_utc_and_missing_statistics_read_the_column(tmp_path: Path) -> None:
    write(tmp_path / "naive", [S + timedelta(seconds=1)], tz=False)
    assert parquet_max_event_time(str(tmp_path / "naive"), "event_timestamp", S).ready
    write(tmp_path / "nostats", [S - timedelta(days=1), S + timedelta(hours=1)], statistics=False)
    assert parquet_max_event_time(str(tmp_path / "nostats"), "event_timestamp", S).ready
    assert not parquet_max_event_time(str(tmp_path / "nostats"), "event_timestamp", S + timedelta(hours=2)).ready


def test_hidden_files_and_missing_folders(tmp_path: Path) -> None:
    write(tmp_path / "events" / "_tmp", [S + timedelta(days=1)])  # a writer's temporary folder: ignored
    write(tmp_path / "events", [S - timedelta(days=1)], name=".part-1.parquet")
    result = parquet_max_event_time(str(tmp_path / "events"), "event_timestamp", S)
    assert (result.ready, result.detail) == (False, f"no parquet files under {tmp_path / 'events'} yet")
    assert check_source(SOURCE, str(tmp_path / "nothing"), S) == \
        (False, f"no parquet files under {tmp_path / 'nothing'} yet")


def test_readiness_none_is_always_ready(tmp_path: Path) -> None:
    result = check(dataclasses.replace(SOURCE, readiness="none"), str(tmp_path / "missing"), S)
    assert (result.ready, result.detail) == (True, "readiness check off (readiness='none')")
