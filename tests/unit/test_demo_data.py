"""Tests for the synthetic demo dataset generator (pitstop.demo.data)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypedDict, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

import pitstop.demo.data as demo_data
from pitstop.demo.data import DemoDataSummary, generate_demo_data


class _Counts(TypedDict):
    transactions: int
    users: int
    merchants: int
    days: int


SMALL: _Counts = {"transactions": 20_000, "users": 500, "merchants": 50, "days": 10}
END = date(2026, 10, 31)
EXPECTED_DAYS = [END - timedelta(days=i) for i in range(9, -1, -1)]  # 2026-10-22 .. 2026-10-31

TX_COLUMNS = [
    ("transaction_id", pa.string()),
    ("user_id", pa.int64()),
    ("merchant_id", pa.int64()),
    ("amount", pa.float64()),
    ("currency", pa.string()),
    ("event_timestamp", pa.timestamp("us", tz="UTC")),
]
PROFILE_COLUMNS = [
    ("user_id", pa.int64()),
    ("country", pa.string()),
    ("credit_limit", pa.float64()),
    ("is_verified", pa.bool_()),
    ("event_timestamp", pa.timestamp("us", tz="UTC")),
    ("created_timestamp", pa.timestamp("us", tz="UTC")),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> DemoDataSummary:
    return generate_demo_data(tmp_path_factory.mktemp("demo"), **SMALL)


@pytest.fixture(scope="module")
def tx(generated: DemoDataSummary) -> pa.Table:
    partitioning = pads.partitioning(pa.schema([("ds", pa.string())]), flavor="hive")
    dataset = pads.dataset(generated.out_dir / "transactions", format="parquet", partitioning=partitioning)
    return dataset.to_table()


@pytest.fixture(scope="module")
def profiles(generated: DemoDataSummary) -> pa.Table:
    return pq.read_table(generated.out_dir / "user_profiles" / "part-00000.parquet")


def _relative_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _utc(d: date, t: time) -> datetime:
    return datetime.combine(d, t, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# summary and layout


def test_summary_fields(generated: DemoDataSummary, profiles: pa.Table) -> None:
    assert generated.transactions == 20_000
    assert generated.users == 500
    assert generated.merchants == 50
    assert generated.profiles == profiles.num_rows
    assert generated.first_day == date(2026, 10, 22)
    assert generated.last_day == date(2026, 10, 31)
    text = generated.describe()
    assert str(generated.out_dir) in text
    assert "20,000 rows in 10 daily partitions" in text
    assert "ds=2026-10-22 .. ds=2026-10-31" in text
    assert f"{profiles.num_rows:,} profile rows" in text
    assert "500 users" in text
    assert "50 merchants" in text


def test_layout_is_one_partition_per_day_and_one_profile_file(generated: DemoDataSummary) -> None:
    out = generated.out_dir
    assert sorted(p.name for p in out.iterdir()) == ["transactions", "user_profiles"]
    partitions = sorted(p.name for p in (out / "transactions").iterdir())
    assert partitions == [f"ds={d.isoformat()}" for d in EXPECTED_DAYS]
    for name in partitions:
        assert [p.name for p in (out / "transactions" / name).iterdir()] == ["part-00000.parquet"]
    assert [p.name for p in (out / "user_profiles").iterdir()] == ["part-00000.parquet"]


def test_transaction_schema_and_row_count(generated: DemoDataSummary, tx: pa.Table) -> None:
    first = pq.read_schema(generated.out_dir / "transactions" / "ds=2026-10-22" / "part-00000.parquet")
    assert [(f.name, f.type) for f in first] == TX_COLUMNS
    assert tx.num_rows == 20_000
    per_file = sum(
        pq.read_metadata(p).num_rows for p in (generated.out_dir / "transactions").rglob("*.parquet")
    )
    assert per_file == 20_000


def test_total_rows_are_exact_for_awkward_counts(tmp_path: Path) -> None:
    summary = generate_demo_data(tmp_path, transactions=7, users=3, merchants=2, days=4)
    files = sorted((tmp_path / "transactions").rglob("*.parquet"))
    assert len(files) == 4
    assert sum(pq.read_metadata(p).num_rows for p in files) == 7
    assert summary.transactions == 7


# --------------------------------------------------------------------------------------------------
# transaction content


def test_ds_equals_utc_date_of_every_event(tx: pa.Table) -> None:
    event_dates = pc.strftime(tx["event_timestamp"], format="%Y-%m-%d")
    assert pc.all(pc.equal(event_dates, tx["ds"])).as_py() is True
    assert sorted(set(tx["ds"].to_pylist())) == [d.isoformat() for d in EXPECTED_DAYS]


def test_rows_sorted_by_event_timestamp_within_each_file(generated: DemoDataSummary) -> None:
    for path in sorted((generated.out_dir / "transactions").rglob("*.parquet")):
        ts = pq.read_table(path, columns=["event_timestamp"])["event_timestamp"].to_numpy()
        assert len(ts) > 0
        assert bool(np.all(ts[1:] >= ts[:-1])), path


def test_no_nulls_except_a_few_amounts(tx: pa.Table) -> None:
    for name in ["transaction_id", "user_id", "merchant_id", "currency", "event_timestamp"]:
        assert tx[name].null_count == 0, name
    nulls = tx["amount"].null_count
    assert 1 <= nulls <= 0.001 * tx.num_rows  # about 0.05%
    amounts = tx["amount"].drop_null().to_numpy()
    assert amounts.min() > 0
    np.testing.assert_array_equal(np.round(amounts, 2), amounts)


def test_midnight_and_last_microsecond_events_present(tx: pa.Table) -> None:
    stamps = Counter(tx["event_timestamp"].to_pylist())
    midnight = sum(stamps[_utc(d, time(0, 0))] for d in EXPECTED_DAYS)
    last_us = sum(stamps[_utc(d, time(23, 59, 59, 999_999))] for d in EXPECTED_DAYS)
    assert midnight >= len(EXPECTED_DAYS)  # at least one per day
    assert last_us >= len(EXPECTED_DAYS)
    for d in EXPECTED_DAYS:
        assert stamps[_utc(d, time(0, 0))] >= 1, d
        assert stamps[_utc(d, time(23, 59, 59, 999_999))] >= 1, d


def test_duplicates_are_exact_copies(tx: pa.Table) -> None:
    ids = tx["transaction_id"].to_pylist()
    counts = Counter(ids)
    duplicated = {i for i, n in counts.items() if n > 1}
    assert max(counts.values()) == 2
    assert len(duplicated) == 20  # 0.1% of 20,000
    assert len(counts) == 20_000 - 20
    rows = tx.to_pylist()
    by_id: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        if row["transaction_id"] in duplicated:
            by_id.setdefault(str(row["transaction_id"]), []).append(row)
    for copies in by_id.values():
        assert copies[0] == copies[1]


def test_transaction_ids_format(tx: pa.Table) -> None:
    ids = sorted(set(tx["transaction_id"].to_pylist()))
    assert ids[0] == "t000000001"
    assert ids[-1] == f"t{20_000 - 20:09d}"
    assert all(len(i) == 10 and i[0] == "t" and i[1:].isdigit() for i in ids)


def test_ids_follow_event_order(tx: pa.Table) -> None:
    ordered = tx.sort_by([("event_timestamp", "ascending"), ("transaction_id", "ascending")])
    ids = ordered["transaction_id"].to_pylist()
    assert ids == sorted(ids)


def test_keys_and_currency_domain(tx: pa.Table) -> None:
    users = tx["user_id"].to_numpy()
    merchants = tx["merchant_id"].to_numpy()
    assert users.min() >= 1 and users.max() <= 500
    assert merchants.min() >= 1 and merchants.max() <= 50
    currencies = Counter(tx["currency"].to_pylist())
    assert set(currencies) <= {"USD", "EUR", "GBP", "BRL", "INR", "CAD"}
    assert currencies["USD"] / tx.num_rows > 0.85


def test_user_activity_is_skewed_and_merchants_zipf_like(tx: pa.Table) -> None:
    per_user = np.sort(np.bincount(tx["user_id"].to_numpy(), minlength=501)[1:])[::-1]
    top_5pct = per_user[:25].sum() / per_user.sum()
    assert top_5pct > 0.2  # a few heavy users
    assert np.median(per_user) < per_user.mean()
    per_merchant = np.sort(np.bincount(tx["merchant_id"].to_numpy(), minlength=51)[1:])[::-1]
    assert per_merchant[0] > 5 * np.median(per_merchant)
    assert per_merchant[0] > per_merchant[4] > per_merchant[24]


def test_some_users_go_quiet_before_the_end(tmp_path: Path) -> None:
    generate_demo_data(tmp_path, transactions=30_000, users=500, merchants=50, days=30)
    table = pads.dataset(tmp_path / "transactions", format="parquet", partitioning="hive").to_table(
        columns=["user_id", "event_timestamp"]
    )
    users = table["user_id"].to_numpy()
    ts = table["event_timestamp"].cast(pa.int64()).to_numpy()
    cutoff = int(_utc(date(2026, 10, 24), time(0, 0)).timestamp()) * 1_000_000  # last 8 days
    early = np.bincount(users[ts < cutoff], minlength=501)
    late = np.bincount(users[ts >= cutoff], minlength=501)
    quiet = np.flatnonzero((early >= 10) & (late == 0))
    assert len(quiet) >= 20


# --------------------------------------------------------------------------------------------------
# user profiles


def test_profile_schema_and_users(profiles: pa.Table) -> None:
    assert [(f.name, f.type) for f in profiles.schema] == PROFILE_COLUMNS
    for name in profiles.column_names:
        assert profiles[name].null_count == 0, name
    assert set(profiles["user_id"].to_pylist()) == set(range(1, 501))
    assert set(profiles["country"].to_pylist()) <= {"US", "GB", "DE", "FR", "BR", "IN"}
    assert pc.min(profiles["credit_limit"]).as_py() > 0


def test_profiles_have_one_to_four_versions_inside_the_period(profiles: pa.Table) -> None:
    versions = set(zip(profiles["user_id"].to_pylist(), profiles["event_timestamp"].to_pylist(), strict=True))
    per_user = Counter(user for user, _ in versions)
    assert min(per_user.values()) == 1
    assert max(per_user.values()) == 4
    events = profiles["event_timestamp"].to_pylist()
    assert min(events) >= _utc(EXPECTED_DAYS[0], time(0, 0))
    assert max(events) <= _utc(EXPECTED_DAYS[-1], time(23, 59, 59, 999_999))


def test_created_is_never_before_event(profiles: pa.Table) -> None:
    lag = pc.subtract(profiles["created_timestamp"], profiles["event_timestamp"]).cast(pa.int64()).to_numpy()
    assert lag.min() >= 0
    assert np.median(lag) > 60 * 1_000_000  # usually minutes to hours later
    assert np.median(lag) < 24 * 3_600 * 1_000_000


def test_corrections_share_key_with_later_created_and_different_values(profiles: pa.Table) -> None:
    groups: dict[tuple[int, datetime], list[tuple[datetime, float]]] = {}
    for user, event, created, limit in zip(
        profiles["user_id"].to_pylist(),
        profiles["event_timestamp"].to_pylist(),
        profiles["created_timestamp"].to_pylist(),
        profiles["credit_limit"].to_pylist(),
        strict=True,
    ):
        groups.setdefault((user, event), []).append((created, limit))
    corrected = [sorted(rows) for rows in groups.values() if len(rows) > 1]
    assert all(len(rows) == 2 for rows in corrected)
    assert 0.01 * profiles.num_rows <= len(corrected) <= 0.03 * profiles.num_rows  # about 2%
    for (created, limit), (created_fix, limit_fix) in corrected:
        assert created_fix > created
        assert limit_fix != limit


def test_profiles_sorted_by_event_time(profiles: pa.Table) -> None:
    ts = profiles["event_timestamp"].cast(pa.int64()).to_numpy()
    assert bool(np.all(ts[1:] >= ts[:-1]))


# --------------------------------------------------------------------------------------------------
# determinism and rewrites


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    generate_demo_data(tmp_path / "a", **SMALL)
    generate_demo_data(tmp_path / "b", **SMALL)
    a = _relative_files(tmp_path / "a")
    b = _relative_files(tmp_path / "b")
    assert len(a) == 11
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    generate_demo_data(tmp_path / "a", **SMALL, seed=1)
    generate_demo_data(tmp_path / "b", **SMALL, seed=2)
    a = _relative_files(tmp_path / "a")
    b = _relative_files(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[name] != b[name] for name in a)


def test_rerun_replaces_generated_folders_only(tmp_path: Path) -> None:
    generate_demo_data(tmp_path, **SMALL)
    (tmp_path / "transactions" / "stale.txt").write_text("old")
    (tmp_path / "user_profiles" / "part-00001.parquet").write_text("old")
    (tmp_path / "keep.txt").write_text("mine")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.parquet").write_text("mine too")

    summary = generate_demo_data(tmp_path, transactions=5_000, users=100, merchants=10, days=3)

    assert sorted(p.name for p in (tmp_path / "transactions").iterdir()) == [
        "ds=2026-10-29",
        "ds=2026-10-30",
        "ds=2026-10-31",
    ]
    assert [p.name for p in (tmp_path / "user_profiles").iterdir()] == ["part-00000.parquet"]
    assert (tmp_path / "keep.txt").read_text() == "mine"
    assert (tmp_path / "other" / "x.parquet").read_text() == "mine too"
    assert summary.first_day == date(2026, 10, 29)
    total = sum(pq.read_metadata(p).num_rows for p in (tmp_path / "transactions").rglob("*.parquet"))
    assert total == 5_000


def test_creates_missing_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "demo"
    summary = generate_demo_data(out, transactions=100, users=10, merchants=5, days=2)
    assert summary.out_dir == out
    assert (out / "transactions" / "ds=2026-10-30" / "part-00000.parquet").is_file()


# --------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("name", ["transactions", "users", "merchants", "days"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_counts_rejected(tmp_path: Path, name: str, value: int) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer, got {value}$"):
        generate_demo_data(out, **cast(_Counts, {**SMALL, name: value}))
    assert not out.exists()


def test_negative_seed_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer, got -1$"):
        generate_demo_data(tmp_path, **SMALL, seed=-1)


def test_datetime_end_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^end must be a datetime.date \(not a datetime\)"):
        generate_demo_data(tmp_path, **SMALL, end=datetime(2026, 10, 31, tzinfo=UTC))


def test_chunked_batches_give_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_demo_data(tmp_path / "whole", **SMALL)
    monkeypatch.setattr(demo_data, "_CHUNK_ROWS", 333)
    generate_demo_data(tmp_path / "chunked", **SMALL)
    for day in EXPECTED_DAYS:
        name = f"transactions/ds={day.isoformat()}/part-00000.parquet"
        whole = pq.read_table(tmp_path / "whole" / name)
        chunked_file = pq.ParquetFile(tmp_path / "chunked" / name)
        assert chunked_file.metadata.num_row_groups == -(-whole.num_rows // 333)
        assert chunked_file.read().equals(whole)
