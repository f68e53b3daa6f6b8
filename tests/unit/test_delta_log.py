"""The Delta log reader (pyarrow, no Spark) on real tables written by delta-rs, and its protocol check: a table
needing a reader version or reader feature pitstop cannot read correctly is refused, clearly, everywhere it is
read (rows, readiness, the sensor)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from pitstop.errors import UnsupportedDeltaTable
from pitstop.orchestration.operators import check_source
from pitstop.plan.model import ViewSource
from pitstop.runtime.context import Context
from pitstop.stores import delta_log
from pitstop.stores.readiness import check, first_event_time

S = datetime(2026, 11, 1, tzinfo=UTC)  # S(2026-10-31)
SOURCE = ViewSource("events", "data/events", "delta", "event_timestamp", None, {}, "max_event_time")
SUPPORTED = "columnMapping, deletionVectors, timestampNtz, vacuumProtocolCheck"


def events(*times: datetime, tz: bool = True) -> pa.Table:
    return pa.table({"user_id": pa.array(range(len(times)), pa.int64()),
                     "event_timestamp": pa.array([t if tz else t.replace(tzinfo=None) for t in times],
                                                 pa.timestamp("us", tz="UTC" if tz else None)),
                     "ds": pa.array([t.date().isoformat() for t in times])})


def write(path: Path, table: pa.Table, **options: object) -> str:
    from deltalake import write_deltalake

    write_deltalake(str(path), table, **options)  # type: ignore[arg-type]
    return str(path)


def edit_protocol(path: str, version: int, protocol: dict[str, object],
                  configuration: dict[str, str] | None = None) -> None:
    """Rewrite the protocol (and the metaData's configuration) action of one commit of the log."""
    commit = Path(path) / "_delta_log" / f"{version:020d}.json"
    actions = [json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
    for action in actions:
        if "protocol" in action:
            action["protocol"] = protocol
        if "metaData" in action and configuration is not None:
            action["metaData"]["configuration"] = configuration
    commit.write_text("".join(json.dumps(a) + "\n" for a in actions))


def test_a_delta_rs_table_through_its_checkpoint(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    path = write(tmp_path / "t", events(datetime(2026, 10, 30, 5, tzinfo=UTC)), partition_by=["ds"],
                 configuration={"delta.logRetentionDuration": "interval 30 days"})
    write(tmp_path / "t", events(datetime(2026, 10, 31, 23, tzinfo=UTC)), mode="append")
    DeltaTable(path).create_checkpoint()  # version 1: the protocol and the configuration are now in the checkpoint
    write(tmp_path / "t", events(datetime(2026, 11, 1, 0, tzinfo=UTC)), mode="append")

    table = delta_log.snapshot(path)
    assert (table.version, table.protocol, table.configuration) == (
        2, {"minReaderVersion": 1, "minWriterVersion": 2, "readerFeatures": None, "writerFeatures": None},
        {"delta.logRetentionDuration": "interval 30 days"})
    assert sorted(f["partitionValues"]["ds"] for f in table.files) == ["2026-10-30", "2026-10-31", "2026-11-01"]
    rows = delta_log.read_table(path, ["user_id", "ds"])
    assert sorted(zip(rows.column("ds").to_pylist(), rows.column("user_id").to_pylist(), strict=True)) == [
        ("2026-10-30", 0), ("2026-10-31", 0), ("2026-11-01", 0)]
    result = check(SOURCE, path, S)
    assert (result.ready, result.detail) == (True, "Delta v2: newest event_timestamp 2026-11-01T00:00:00+00:00 >= "
                                                   "2026-11-01T00:00:00+00:00")
    assert first_event_time(SOURCE, path) == datetime(2026, 10, 30, 5, tzinfo=UTC)


def test_an_older_version_and_one_partition(tmp_path: Path) -> None:
    """read_table at a pinned version (across a later checkpoint, from the commits before it) and of one
    partition; commit_infos gives each commit's commitInfo; a version whose commits are gone is refused."""
    from deltalake import DeltaTable

    path = write(tmp_path / "t", events(datetime(2026, 10, 30, 5, tzinfo=UTC)), partition_by=["ds"])
    write(tmp_path / "t", events(datetime(2026, 10, 31, 1, tzinfo=UTC), datetime(2026, 10, 31, 2, tzinfo=UTC)),
          mode="append")
    write(tmp_path / "t", events(datetime(2026, 10, 31, 3, tzinfo=UTC)), mode="overwrite",
          predicate="ds = '2026-10-31'")
    DeltaTable(path).create_checkpoint()  # version 2

    def rows(**options: object) -> list[tuple[str, int]]:
        table = delta_log.read_table(path, ["ds", "user_id"], **options)  # type: ignore[arg-type]
        if table.num_rows == 0:
            return []
        return sorted(zip(table.column("ds").to_pylist(), table.column("user_id").to_pylist(), strict=True))

    assert rows() == [("2026-10-30", 0), ("2026-10-31", 0)]
    assert rows(version=1) == [("2026-10-30", 0), ("2026-10-31", 0), ("2026-10-31", 1)]
    assert rows(version=1, partition={"ds": "2026-10-31"}) == [("2026-10-31", 0), ("2026-10-31", 1)]
    assert rows(version=0, partition={"ds": "2026-10-31"}) == []
    assert delta_log.snapshot(path, version=1).version == 1
    assert sorted(delta_log.commit_infos(path)) == [0, 1, 2]
    assert [delta_log.commit_infos(path)[v]["operation"] for v in (0, 1, 2)] == ["WRITE", "WRITE", "WRITE"]
    (Path(path) / "_delta_log" / f"{0:020d}.json").unlink()  # an expired commit: version 1 cannot be rebuilt
    with pytest.raises(FileNotFoundError, match="no longer holds every commit"):
        delta_log.read_table(path, version=1)
    assert rows() == [("2026-10-30", 0), ("2026-10-31", 0)]  # the checkpoint still gives the current version


def test_timestamp_ntz_is_a_supported_reader_feature(tmp_path: Path) -> None:
    """delta-rs writes a timestamp without time zone with reader version 3 and the timestampNtz feature; the
    reader takes its values as UTC."""
    path = write(tmp_path / "t", events(datetime(2026, 10, 31, 23, tzinfo=UTC), tz=False))
    table = delta_log.snapshot(path)
    assert (table.protocol["minReaderVersion"], table.protocol["readerFeatures"]) == (3, ["timestampNtz"])
    result = check(SOURCE, path, S)
    assert (result.ready, result.detail) == (False, "Delta v0: newest event_timestamp 2026-10-31T23:00:00+00:00 < "
                                                    "2026-11-01T00:00:00+00:00")
    assert delta_log.read_table(path).num_rows == 1


def test_an_unknown_reader_feature_is_refused_everywhere(tmp_path: Path) -> None:
    path = write(tmp_path / "t", events(datetime(2026, 11, 1, 2, tzinfo=UTC)))
    write(tmp_path / "t", events(datetime(2026, 11, 2, 2, tzinfo=UTC)), mode="append")
    edit_protocol(path, 0, {"minReaderVersion": 3, "minWriterVersion": 7,
                            "readerFeatures": ["timestampNtz", "zorderedRows"], "writerFeatures": ["timestampNtz"]})
    message = (f"Delta table {path} v1 needs the reader feature(s) zorderedRows, which pitstop's Delta log reader "
               f"does not support (it supports reader versions up to 3 and the features {SUPPORTED}; columnMapping "
               f"with mode 'none' only); pitstop reads this log without Spark (source readiness, the days check, "
               f"status pages): rewrite the table without the feature (Spark or Databricks: `ALTER TABLE ... DROP "
               f"FEATURE zorderedRows`)")
    with pytest.raises(UnsupportedDeltaTable) as rows:
        delta_log.read_table(path)
    assert str(rows.value) == message
    with pytest.raises(UnsupportedDeltaTable) as first:
        first_event_time(SOURCE, path)
    assert str(first.value) == f"source 'events': {message}"
    for mode in ("max_event_time", "delta_commit"):
        with pytest.raises(UnsupportedDeltaTable) as ready:
            check(dataclasses.replace(SOURCE, readiness=mode), path, S)
        assert str(ready.value) == (f"source 'events': {message}; or give the source readiness='none' (its data is "
                                    f"then taken as ready)")
        # the DAG's sensor fails (terminal) instead of waiting for data that can never look ready
        with pytest.raises(UnsupportedDeltaTable):
            check_source(dataclasses.replace(SOURCE, readiness=mode), path, S)
    assert check(dataclasses.replace(SOURCE, readiness="none"), path, S).ready


def test_materialize_refuses_the_days_of_such_a_source_before_spark(tmp_path: Path) -> None:
    """The days check (pyarrow only) stops `pitstop materialize` with the view, the source and --force named."""
    from datetime import date

    from pitstop.config import load_config
    from pitstop.runtime import registry
    from pitstop.runtime.materialize import check_days

    repo = tmp_path / "repo"
    (repo / "feature_defs").mkdir(parents=True)
    (repo / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp_path / 'delta'}\n")
    (repo / "feature_defs" / "defs.py").write_text(
        "from pitstop import Aggregation, BatchSource, Entity, FeatureView\n"
        "user = Entity('user', join_keys=['user_id'])\n"
        "events = BatchSource('events', path='data/events', format='delta')\n"
        "spend = FeatureView('spend', entities=[user], source=events, online=False,\n"
        "                    aggregations=[Aggregation('count', windows=['1d'])])\n")
    path = write(repo / "data" / "events", events(datetime(2026, 10, 30, 2, tzinfo=UTC),
                                                  datetime(2026, 11, 1, 2, tzinfo=UTC)))
    config = load_config(repo, env={})
    registry.apply(config)
    plan = registry.load_plan(config)
    day = date(2026, 10, 31)
    found = check_days(Context(config, plan), "spend", day, day)
    assert found.startswith("source events: first event 2026-10-30T02:00")
    edit_protocol(path, 0, {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["zorderedRows"],
                            "writerFeatures": []})
    with pytest.raises(UnsupportedDeltaTable) as refused:
        check_days(Context(config, plan), "spend", day, day)
    assert str(refused.value).startswith(f"view 'spend': source 'events': Delta table {path} v0 needs the reader "
                                         f"feature(s) zorderedRows, ")
    assert str(refused.value).endswith("DROP FEATURE zorderedRows`); or rerun with --force (API: force=True) to "
                                       "compute the days without the check")


def test_a_newer_reader_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t", events(datetime(2026, 11, 1, 2, tzinfo=UTC)))
    edit_protocol(path, 0, {"minReaderVersion": 4, "minWriterVersion": 8, "readerFeatures": [], "writerFeatures": []})
    with pytest.raises(UnsupportedDeltaTable) as refused:
        delta_log.snapshot(path)
    assert str(refused.value) == (f"Delta table {path} v0 needs Delta reader version 4; pitstop's Delta log reader "
                                  f"supports reader versions up to 3: rewrite the table with a writer that keeps its "
                                  f"reader version at 3 or lower")


def test_a_protocol_upgrade_in_a_later_commit_counts(tmp_path: Path) -> None:
    """The newest protocol action wins: a commit that only upgrades the protocol (as enabling a feature does)."""
    path = write(tmp_path / "t", events(datetime(2026, 11, 1, 2, tzinfo=UTC)))
    upgrade = {"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["v2Checkpoint"],
                            "writerFeatures": ["v2Checkpoint"]}}
    (Path(path) / "_delta_log" / f"{1:020d}.json").write_text(
        json.dumps({"commitInfo": {"timestamp": 1793500000000, "operation": "SET TBLPROPERTIES"}}) + "\n"
        + json.dumps(upgrade) + "\n")
    with pytest.raises(UnsupportedDeltaTable, match=r"v1 needs the reader feature\(s\) v2Checkpoint, "):
        delta_log.snapshot(path)


def test_column_mapping_is_read_only_with_mode_none(tmp_path: Path) -> None:
    path = write(tmp_path / "t", events(datetime(2026, 11, 1, 2, tzinfo=UTC)))
    protocol = {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["columnMapping"],
                "writerFeatures": ["columnMapping"]}
    edit_protocol(path, 0, protocol, {"delta.columnMapping.mode": "none"})
    assert delta_log.snapshot(path).configuration == {"delta.columnMapping.mode": "none"}
    assert delta_log.read_table(path).num_rows == 1
    for reader, features in ((3, ["columnMapping"]), (2, None)):  # reader version 2 is column mapping
        edit_protocol(path, 0, {**protocol, "minReaderVersion": reader, "readerFeatures": features},
                      {"delta.columnMapping.mode": "name"})
        with pytest.raises(UnsupportedDeltaTable) as refused:
            delta_log.read_table(path)
        assert str(refused.value) == (
            f"Delta table {path} v0 uses column mapping (delta.columnMapping.mode = 'name'): its files and "
            f"statistics name columns by physical names, which pitstop's Delta log reader does not map; pitstop "
            f"reads this log without Spark (source readiness, the days check, status pages): rewrite the table "
            f"without the feature (Spark or Databricks: `ALTER TABLE ... DROP FEATURE columnMapping`)")


def test_a_log_without_a_protocol_action_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "t", events(datetime(2026, 11, 1, 2, tzinfo=UTC)))
    commit = Path(path) / "_delta_log" / f"{0:020d}.json"
    commit.write_text("".join(line + "\n" for line in commit.read_text().splitlines() if '"protocol"' not in line))
    with pytest.raises(UnsupportedDeltaTable, match="found no protocol action in the log"):
        delta_log.snapshot(path)


def test_not_a_delta_table(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a Delta table"):
        delta_log.snapshot(str(tmp_path))
    ready, detail = check_source(SOURCE, str(tmp_path), S)  # not there yet: the sensor keeps waiting
    assert (ready, detail.split(":")[0]) == (False, f"{tmp_path} cannot be checked yet")
