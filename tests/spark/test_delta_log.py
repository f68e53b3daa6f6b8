"""The Delta log reader (pyarrow, no Spark) on tables Spark writes: checkpoints, reader version 3 with deletion
vectors, and a file that has one (its rows and its wide statistics are refused until the table is purged)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pitstop.errors import UnsupportedDeltaTable
from pitstop.plan.model import ViewSource
from pitstop.stores import delta_log
from pitstop.stores.readiness import check, first_event_time

pytestmark = pytest.mark.spark

SOURCE = ViewSource("events", "data/events", "delta", "event_timestamp", None, {}, "max_event_time")
S = datetime(2026, 11, 1, tzinfo=UTC)  # S(2026-10-31)


def test_a_spark_table_with_deletion_vectors(tmp_path: Path, spark: Any) -> None:
    path = str(tmp_path / "events")
    spark.sql(f"CREATE TABLE delta.`{path}` (user_id BIGINT, event_timestamp TIMESTAMP) USING delta "
              f"TBLPROPERTIES ('delta.enableDeletionVectors' = 'true', 'delta.checkpointInterval' = '2')")
    for user, stamp in ((1, "2026-10-30 05:00:00"), (2, "2026-10-31 12:00:00")):
        spark.sql(f"INSERT INTO delta.`{path}` VALUES ({user}, TIMESTAMP '{stamp}')")
    (spark.createDataFrame([(3, datetime(2026, 11, 1, 3, tzinfo=UTC)), (4, datetime(2026, 10, 31, 20, tzinfo=UTC))],
                           "user_id bigint, event_timestamp timestamp")
     .coalesce(1).write.format("delta").mode("append").save(path))  # one file of two rows

    table = delta_log.snapshot(path)  # version 3: a checkpoint at version 2, then one commit
    assert (table.version, table.protocol["minReaderVersion"]) == (3, 3)
    assert "deletionVectors" in table.protocol["readerFeatures"]
    assert (Path(path) / "_delta_log" / f"{2:020d}.checkpoint.parquet").exists()
    assert sorted(delta_log.read_table(path).column("user_id").to_pylist()) == [1, 2, 3, 4]
    assert check(SOURCE, path, S).detail == ("Delta v3: newest event_timestamp 2026-11-01T03:00:00+00:00 >= "
                                             "2026-11-01T00:00:00+00:00")

    # a delete with deletion vectors keeps the file and its statistics, which still count the deleted row
    spark.sql(f"DELETE FROM delta.`{path}` WHERE user_id = 3")
    deleted = next(a for a in delta_log.snapshot(path).files if a.get("deletionVector"))
    with pytest.raises(UnsupportedDeltaTable) as rows:
        delta_log.read_table(path)
    assert str(rows.value) == (f"Delta table {path} v4: file {deleted['path']} has a deletion vector, whose deleted "
                               f"rows pitstop's Delta log reader does not remove; rewrite the files without deletion "
                               f"vectors (Spark: `REORG TABLE delta.`{path}` APPLY (PURGE)`)")
    with pytest.raises(UnsupportedDeltaTable) as ready:
        check(SOURCE, path, S)
    assert str(ready.value) == (
        f"source 'events': Delta table {path} v4: file {deleted['path']} has a deletion vector and its statistics "
        f"still count the rows it deletes, so pitstop's Delta log reader cannot tell the newest or oldest value from "
        f"them; rewrite the files without deletion vectors (Spark: `REORG TABLE delta.`{path}` APPLY (PURGE)`), or "
        f"use readiness='delta_commit' for this source; or give the source readiness='none' (its data is then taken "
        f"as ready)")
    # commit times need no statistics
    assert check(dataclasses.replace(SOURCE, readiness="delta_commit"), path, S).ready

    spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    assert not any(a.get("deletionVector") for a in delta_log.snapshot(path).files)
    assert sorted(delta_log.read_table(path).column("user_id").to_pylist()) == [1, 2, 4]
    result = check(SOURCE, path, S)
    assert (result.ready, result.detail) == (False, "Delta v5: newest event_timestamp 2026-10-31T20:00:00+00:00 < "
                                                    "2026-11-01T00:00:00+00:00")
    assert first_event_time(SOURCE, path) == datetime(2026, 10, 30, 5, tzinfo=UTC)


def test_rows_from_log_count_a_days_rows_at_a_version_without_spark(tmp_path: Path, spark: Any) -> None:
    """The gate's reference-day sizes: the numRecords of the day's files at the version validated; None where the
    statistics cannot say (no ds partition, a deletion vector) so that the gate counts with Spark instead."""
    from datetime import date

    from pitstop.runtime.quality import rows_from_log

    path = str(tmp_path / "snapshots")
    d1, d2, d3 = date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)
    rows = [(i, d1) for i in range(5)] + [(i, d2) for i in range(3)]
    spark.createDataFrame(rows, "user_id bigint, ds date").write.format("delta").partitionBy("ds").save(path)
    spark.createDataFrame([(9, d2), (10, d3)], "user_id bigint, ds date").write.format("delta").mode("append") \
        .save(path)  # version 1: a second file of d2
    assert rows_from_log(path, 1, [d1, d2, d3]) == {d1: 5, d2: 4, d3: 1}
    assert rows_from_log(path, 0, [d2, d3]) == {d2: 3, d3: 0}  # the day as that version held it
    assert rows_from_log("s3a://bucket/snapshots", 0, [d1]) is None  # not local: Spark counts
    flat = str(tmp_path / "flat")
    spark.createDataFrame(rows, "user_id bigint, ds date").write.format("delta").save(flat)
    assert rows_from_log(flat, 0, [d1]) is None
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.sql(f"DELETE FROM delta.`{path}` WHERE ds = DATE '{d1}' AND user_id = 0")
    # the DELETE adds d1's file with its deletion vector and removes it without: the file is still there
    assert sorted((a["partitionValues"]["ds"], bool(a.get("deletionVector")))
                  for a in delta_log.snapshot(path, version=3).files) == [
        ("2026-10-29", False), ("2026-10-29", True), ("2026-10-30", False), ("2026-10-30", False),
        ("2026-10-31", False)]
    assert rows_from_log(path, 3, [d2]) == {d2: 4}  # only d2's files are looked at
    assert rows_from_log(path, 3, [d1]) is None  # d1's file has a deletion vector: its count includes the row


def test_read_table_puts_int96_and_micros_files_together_as_utc(tmp_path: Path, spark: Any) -> None:
    """A quality table written before pitstop wrote TIMESTAMP(MICROS) holds INT96 files (pyarrow reads them as
    nanoseconds without a zone); its newer files hold microseconds in UTC. Both come back as one UTC column."""
    import pyarrow as pa

    path = str(tmp_path / "quality")
    first, second = datetime(2026, 10, 30, 5, 6, 7, 123456, tzinfo=UTC), datetime(2026, 10, 31, 1, 2, 3, tzinfo=UTC)
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key)
    try:
        spark.conf.set(key, "INT96")
        spark.createDataFrame([(1, first)], "run int, validated_at timestamp").write.format("delta").save(path)
    finally:
        spark.conf.set(key, before)
    spark.createDataFrame([(2, second)], "run int, validated_at timestamp").write.format("delta").mode("append") \
        .save(path)
    table = delta_log.read_table(path)
    assert table.schema.field("validated_at").type == pa.timestamp("us", tz="UTC")
    assert sorted(zip(table.column("run").to_pylist(), table.column("validated_at").to_pylist(), strict=True)) == [
        (1, first), (2, second)]
