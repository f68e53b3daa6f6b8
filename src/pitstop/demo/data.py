"""Deterministic synthetic fraud dataset for demos and end-to-end tests.

``generate_demo_data`` writes two parquet sources under ``out_dir``::

    transactions/ds=YYYY-MM-DD/part-00000.parquet   one file per UTC day
    user_profiles/part-00000.parquet                latest-value source with corrections

Everything is generated with vectorised numpy from a single seeded ``numpy.random.Generator`` and
written with fixed pyarrow parquet options, so the same arguments give byte-identical files (on the
same platform and library versions).

The data contains the awkward cases a feature pipeline has to get right: events exactly at
``00:00:00.000000`` and ``23:59:59.999999`` UTC, exact duplicate rows, null amounts, heavy and light
users, users going quiet near the end of the period, Zipf-like merchant popularity and profile
corrections (same ``user_id`` and ``event_timestamp``, later ``created_timestamp``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "PROFILE_SCHEMA",
    "TRANSACTION_SCHEMA",
    "DemoDataSummary",
    "generate_demo_data",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

TIMESTAMP_TYPE: Final = pa.timestamp("us", tz="UTC")
_INT64: Final = pa.int64()

TRANSACTION_SCHEMA: Final = pa.schema(
    [
        pa.field("transaction_id", pa.string()),
        pa.field("user_id", pa.int64()),
        pa.field("merchant_id", pa.int64()),
        pa.field("amount", pa.float64()),
        pa.field("currency", pa.string()),
        pa.field("event_timestamp", TIMESTAMP_TYPE),
    ]
)

PROFILE_SCHEMA: Final = pa.schema(
    [
        pa.field("user_id", pa.int64()),
        pa.field("country", pa.string()),
        pa.field("credit_limit", pa.float64()),
        pa.field("is_verified", pa.bool_()),
        pa.field("event_timestamp", TIMESTAMP_TYPE),
        pa.field("created_timestamp", TIMESTAMP_TYPE),
    ]
)

TRANSACTIONS_DIR: Final = "transactions"
PROFILES_DIR: Final = "user_profiles"
PART_FILE: Final = "part-00000.parquet"

_CHUNK_ROWS: Final = 1 << 20  # rows per arrow record batch and per parquet row group
_US_PER_SECOND: Final = 1_000_000
_US_PER_HOUR: Final = 3_600 * _US_PER_SECOND
_US_PER_DAY: Final = 24 * _US_PER_HOUR
_EPOCH: Final = date(1970, 1, 1)

# Data-shape knobs (fractions of rows unless stated otherwise).
_DUPLICATE_FRACTION: Final = 0.001
_NULL_AMOUNT_FRACTION: Final = 0.0005
_BOUNDARY_FRACTION: Final = 0.0005  # per day, for each of midnight and 23:59:59.999999
_CORRECTION_FRACTION: Final = 0.02
_QUIET_USER_FRACTION: Final = 0.12
_LATE_JOINER_FRACTION: Final = 0.08
_HEAVY_USER_FRACTION: Final = 0.005
_FAVOURITE_MERCHANT_SHARE: Final = 0.4
_ZIPF_EXPONENT: Final = 1.0

_CURRENCIES: Final = ("USD", "EUR", "GBP", "BRL", "INR", "CAD")
_CURRENCY_P: Final = (0.90, 0.035, 0.025, 0.015, 0.015, 0.01)
_COUNTRIES: Final = ("US", "GB", "DE", "FR", "BR", "IN")
_COUNTRY_P: Final = (0.45, 0.12, 0.12, 0.10, 0.11, 0.10)
_CREDIT_TIERS: Final = (500.0, 1_000.0, 2_000.0, 2_500.0, 5_000.0, 7_500.0, 10_000.0, 15_000.0, 25_000.0)
_CREDIT_TIER_P: Final = (0.08, 0.17, 0.20, 0.15, 0.17, 0.09, 0.08, 0.04, 0.02)
_PROFILE_ROWS_P: Final = (0.40, 0.30, 0.20, 0.10)  # 1, 2, 3 or 4 profile rows per user
# Monday..Sunday volume multipliers.
_WEEKDAY_FACTOR: Final = (0.97, 0.95, 0.98, 1.02, 1.12, 1.18, 1.06)


@dataclass(frozen=True)
class DemoDataSummary:
    """What ``generate_demo_data`` wrote."""

    out_dir: Path
    transactions: int
    users: int
    merchants: int
    profiles: int
    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        """Number of daily transaction partitions (``first_day`` .. ``last_day`` inclusive)."""
        return (self.last_day - self.first_day).days + 1

    def describe(self) -> str:
        """A few human-readable lines."""
        return "\n".join(
            [
                f"demo data in {self.out_dir}",
                f"  {TRANSACTIONS_DIR}/: {self.transactions:,} rows in {self.days} daily partitions "
                f"ds={self.first_day.isoformat()} .. ds={self.last_day.isoformat()}",
                f"  {PROFILES_DIR}/: {self.profiles:,} profile rows (incl. corrections) "
                f"for {self.users:,} users",
                f"  {self.merchants:,} merchants",
            ]
        )


def generate_demo_data(
    out_dir: Path,
    *,
    transactions: int = 1_000_000,
    users: int = 20_000,
    merchants: int = 2_000,
    days: int = 60,
    end: date = date(2026, 10, 31),
    seed: int = 7,
) -> DemoDataSummary:
    """Write the synthetic fraud dataset under ``out_dir`` and return a summary.

    ``transactions/`` and ``user_profiles/`` are replaced entirely; nothing else in ``out_dir`` is
    touched. The transaction partitions cover the ``days`` days ending at ``end`` (inclusive).

    Raises ``ValueError`` for non-positive counts or ``days`` and for a negative ``seed``.
    """
    _check_positive("transactions", transactions)
    _check_positive("users", users)
    _check_positive("merchants", merchants)
    _check_positive("days", days)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(end, datetime) or not isinstance(end, date):
        raise ValueError(f"end must be a datetime.date (not a datetime), got {end!r}")
    first_day = end - timedelta(days=days - 1)
    if first_day < _EPOCH:
        raise ValueError(f"the period must start on or after 1970-01-01, got first day {first_day}")

    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    first_day_us = (first_day - _EPOCH).days * _US_PER_DAY

    users_model = _UserModel.build(rng, users=users, merchants=merchants, days=days)
    tx = _build_transactions(
        rng,
        users_model,
        transactions=transactions,
        merchants=merchants,
        days=days,
        first_day=first_day,
    )
    profiles_table = _build_profiles(rng, users=users, days=days, first_day_us=first_day_us)

    out_dir.mkdir(parents=True, exist_ok=True)
    tx_dir = out_dir / TRANSACTIONS_DIR
    profiles_dir = out_dir / PROFILES_DIR
    _remove(tx_dir)
    _remove(profiles_dir)

    for day_index in range(days):
        day = first_day + timedelta(days=day_index)
        part_dir = tx_dir / f"ds={day.isoformat()}"
        part_dir.mkdir(parents=True)
        _write_parquet(tx.day_table(day_index), part_dir / PART_FILE, dictionary_columns=["currency"])

    profiles_dir.mkdir(parents=True)
    _write_parquet(profiles_table, profiles_dir / PART_FILE, dictionary_columns=["country"])

    return DemoDataSummary(
        out_dir=out_dir,
        transactions=tx.num_rows,
        users=users,
        merchants=merchants,
        profiles=profiles_table.num_rows,
        first_day=first_day,
        last_day=end,
    )


# --------------------------------------------------------------------------------------------------
# validation and io helpers


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _write_parquet(table: pa.Table, path: Path, *, dictionary_columns: list[str]) -> None:
    # Every option that influences the bytes is pinned; with a fixed pyarrow version (it is the only
    # thing in ``created_by``) the output is byte-identical across runs. No wall-clock goes in.
    pq.write_table(
        table,
        path,
        row_group_size=_CHUNK_ROWS,
        version="2.6",
        data_page_version="1.0",
        use_dictionary=dictionary_columns,
        compression="zstd",
        compression_level=3,
        write_statistics=True,
        store_schema=True,
    )


# Arrow arrays are assembled straight from numpy buffers: ``pa.array`` would lazily import pandas.


def _fixed_width(
    values: npt.NDArray[np.generic], type_: pa.DataType, null: BoolArray | None = None
) -> pa.Array:
    data = pa.py_buffer(np.ascontiguousarray(values))
    if null is None or not null.any():
        return pa.Array.from_buffers(type_, len(values), [None, data], null_count=0)
    validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.Array.from_buffers(type_, len(values), [validity, data], null_count=int(null.sum()))


def _int64s(values: IntArray, type_: pa.DataType = _INT64) -> pa.Array:
    return _fixed_width(values.astype(np.int64, copy=False), type_)


def _float64s(values: FloatArray, null: BoolArray | None = None) -> pa.Array:
    return _fixed_width(values.astype(np.float64, copy=False), pa.float64(), null)


def _bools(values: BoolArray) -> pa.Array:
    bits = pa.py_buffer(np.packbits(values, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits], null_count=0)


def _strings(chars: npt.NDArray[np.uint8], lengths: IntArray) -> pa.Array:
    """A string array from a (rows, width) byte matrix, using the first ``lengths[i]`` bytes of row i."""
    used = np.arange(chars.shape[1]) < lengths[:, None]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    data = np.ascontiguousarray(chars[used])
    return pa.Array.from_buffers(
        pa.string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=0
    )


def _categories(labels: tuple[str, ...], codes: IntArray) -> pa.Array:
    encoded = [label.encode() for label in labels]
    width = max(len(b) for b in encoded)
    table = np.frombuffer(b"".join(b.ljust(width, b"\0") for b in encoded), dtype=np.uint8)
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    return _strings(table.reshape(len(labels), width)[codes], lengths[codes])


def _prefixed_numbers(prefix: str, numbers: IntArray, width: int) -> pa.Array:
    """``prefix`` followed by ``numbers`` zero-padded to ``width`` digits, e.g. "t000000042"."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((numbers[:, None] // powers) % 10 + ord("0")).astype(np.uint8)
    chars = np.concatenate([np.broadcast_to(head, (len(numbers), len(head))), digits], axis=1)
    return _strings(chars, np.full(len(numbers), chars.shape[1], dtype=np.int64))


def _sample_cdf(rng: np.random.Generator, cdf: FloatArray, size: int) -> IntArray:
    """Indices drawn with probability proportional to the increments of ``cdf`` (never a zero-weight one)."""
    draws = rng.random(size) * cdf[-1]
    idx: IntArray = np.minimum(np.searchsorted(cdf, draws, side="right"), len(cdf) - 1).astype(np.int64)
    return idx


def _choose_rows(rng: np.random.Generator, population: int, fraction: float) -> IntArray:
    """Sorted distinct row indices: about ``fraction`` of ``population``, at least one if possible."""
    if population <= 1:
        return np.empty(0, dtype=np.int64)
    count = min(population // 2, max(1, round(population * fraction)))
    chosen: IntArray = np.sort(rng.choice(population, size=count, replace=False)).astype(np.int64)
    return chosen


# --------------------------------------------------------------------------------------------------
# transactions


@dataclass(frozen=True)
class _UserModel:
    weight: FloatArray  # relative activity; heavy-tailed
    active_from: IntArray  # first active day index (late joiners > 0)
    quiet_from: IntArray  # first inactive day index (quiet users < days)
    spend_scale: FloatArray  # multiplies merchant ticket size
    favourites: IntArray  # (users, 3) merchant indices the user keeps returning to

    @staticmethod
    def build(rng: np.random.Generator, *, users: int, merchants: int, days: int) -> _UserModel:
        weight = rng.lognormal(mean=0.0, sigma=1.1, size=users)
        heavy = rng.random(users) < _HEAVY_USER_FRACTION
        weight[heavy] *= rng.uniform(8.0, 20.0, size=int(heavy.sum()))

        active_from = np.zeros(users, dtype=np.int64)
        late = rng.random(users) < _LATE_JOINER_FRACTION
        active_from[late] = rng.integers(0, days, size=int(late.sum()))

        quiet_from = np.full(users, days, dtype=np.int64)
        quiet = rng.random(users) < _QUIET_USER_FRACTION
        # Quiet users stop 8-12 days before the end, so trailing windows decay to zero for them.
        quiet_from[quiet] = np.clip(days - rng.integers(8, 13, size=int(quiet.sum())), 1, days)

        spend_scale = rng.lognormal(mean=0.0, sigma=0.35, size=users)
        favourites = _sample_cdf(rng, _zipf_cdf(merchants), users * 3).reshape(users, 3)
        return _UserModel(weight, active_from, quiet_from, spend_scale, favourites)

    def day_cdf(self, day_index: int) -> FloatArray:
        active = (self.active_from <= day_index) & (day_index < self.quiet_from)
        weights = np.where(active, self.weight, 0.0)
        if not weights.any():  # tiny populations: never leave a day without eligible users
            weights = self.weight
        return np.cumsum(weights)


def _zipf_cdf(n: int) -> FloatArray:
    ranks = np.arange(1, n + 1, dtype=np.float64)
    cdf: FloatArray = np.cumsum(ranks**-_ZIPF_EXPONENT)
    return cdf


def _day_volumes(rng: np.random.Generator, *, total: int, days: int, first_day: date) -> IntArray:
    weekday = np.array([_WEEKDAY_FACTOR[(first_day + timedelta(days=d)).weekday()] for d in range(days)])
    trend = 1.0 + 0.15 * np.arange(days) / max(days - 1, 1)
    noise = rng.lognormal(mean=0.0, sigma=0.05, size=days)
    p = weekday * trend * noise
    counts: IntArray = rng.multinomial(total, p / p.sum()).astype(np.int64)
    return counts


def _intraday_offsets(rng: np.random.Generator, size: int) -> IntArray:
    """Microsecond offsets within a day following a diurnal curve (quiet nights, busy afternoons)."""
    hours = np.arange(24, dtype=np.float64)
    curve = 0.15 + np.exp(-(((hours - 13.0) / 4.5) ** 2)) + 0.7 * np.exp(-(((hours - 20.0) / 2.5) ** 2))
    hour = _sample_cdf(rng, np.cumsum(curve), size)
    offsets: IntArray = hour * _US_PER_HOUR + rng.integers(0, _US_PER_HOUR, size=size, dtype=np.int64)
    return offsets


@dataclass(frozen=True)
class _Transactions:
    id_number: IntArray  # transaction_id without prefix; duplicates repeat it
    id_width: int
    user_id: IntArray
    merchant_id: IntArray
    amount: FloatArray
    amount_null: BoolArray
    currency: IntArray  # index into _CURRENCIES
    event_us: IntArray  # microseconds since the epoch, UTC, ascending
    day_offsets: IntArray  # rows of day d are [day_offsets[d], day_offsets[d + 1])

    @property
    def num_rows(self) -> int:
        return len(self.event_us)

    def day_table(self, day_index: int) -> pa.Table:
        lo, hi = int(self.day_offsets[day_index]), int(self.day_offsets[day_index + 1])
        # Bounded chunks keep int32 string offsets and the id digit matrix small for any day size.
        starts = range(lo, hi, _CHUNK_ROWS) if hi > lo else range(lo, lo + 1)
        return pa.Table.from_batches(
            [self._batch(slice(start, min(start + _CHUNK_ROWS, hi))) for start in starts],
            schema=TRANSACTION_SCHEMA,
        )

    def _batch(self, rows: slice) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays(
            [
                _prefixed_numbers("t", self.id_number[rows], self.id_width),
                _int64s(self.user_id[rows]),
                _int64s(self.merchant_id[rows]),
                _float64s(self.amount[rows], self.amount_null[rows]),
                _categories(_CURRENCIES, self.currency[rows]),
                _int64s(self.event_us[rows], TIMESTAMP_TYPE),
            ],
            schema=TRANSACTION_SCHEMA,
        )


def _build_transactions(
    rng: np.random.Generator,
    model: _UserModel,
    *,
    transactions: int,
    merchants: int,
    days: int,
    first_day: date,
) -> _Transactions:
    """All transactions sorted by event time, as numpy columns."""
    n_dup = len(_choose_rows(rng, transactions, _DUPLICATE_FRACTION))
    n_unique = transactions - n_dup

    per_day = _day_volumes(rng, total=n_unique, days=days, first_day=first_day)
    day_index = np.repeat(np.arange(days, dtype=np.int64), per_day)
    day_start = np.concatenate([[0], np.cumsum(per_day)]).astype(np.int64)

    user_idx = np.empty(n_unique, dtype=np.int64)
    for d in range(days):
        lo, hi = int(day_start[d]), int(day_start[d + 1])
        if hi > lo:
            user_idx[lo:hi] = _sample_cdf(rng, model.day_cdf(d), hi - lo)

    # Merchants: a share of visits go to the user's favourites, the rest follow global Zipf popularity,
    # with ranks shuffled so merchant_id order does not reveal popularity.
    rank_to_merchant = rng.permutation(merchants).astype(np.int64)
    merchant_rank = _sample_cdf(rng, _zipf_cdf(merchants), n_unique)
    favourite_pick = model.favourites[user_idx, rng.integers(0, 3, size=n_unique)]
    use_favourite = rng.random(n_unique) < _FAVOURITE_MERCHANT_SHARE
    merchant_idx = rank_to_merchant[np.where(use_favourite, favourite_pick, merchant_rank)]

    # Amounts: lognormal around a per-merchant typical ticket, scaled per user, with rare big spends.
    merchant_mu = rng.normal(loc=3.2, scale=0.7, size=merchants)
    amount = np.exp(merchant_mu[merchant_idx] + rng.normal(0.0, 0.6, size=n_unique))
    amount *= model.spend_scale[user_idx]
    big = rng.random(n_unique) < 0.002
    amount[big] *= rng.uniform(5.0, 20.0, size=int(big.sum()))
    amount = np.maximum(np.round(amount, 2), 0.01)
    amount_null = np.zeros(n_unique, dtype=np.bool_)
    amount_null[_choose_rows(rng, n_unique, _NULL_AMOUNT_FRACTION)] = True

    currency_idx = _sample_cdf(rng, np.cumsum(np.array(_CURRENCY_P)), n_unique)

    # Event times. Rows of a day are i.i.d. so the first k of each day's block are a random sample:
    # pin those to exactly midnight and the next k to the last microsecond of the day.
    first_day_us = (first_day - _EPOCH).days * _US_PER_DAY
    offsets = _intraday_offsets(rng, n_unique)
    position = np.arange(n_unique, dtype=np.int64) - day_start[day_index]
    boundary_k = np.where(per_day >= 2, np.maximum(1, np.round(per_day * _BOUNDARY_FRACTION)), 0)
    k = boundary_k.astype(np.int64)[day_index]
    offsets[position < k] = 0
    offsets[(position >= k) & (position < 2 * k)] = _US_PER_DAY - 1
    event_us = first_day_us + day_index * _US_PER_DAY + offsets

    order = np.argsort(event_us, kind="stable")
    # Duplicates: exact copies of random events, placed right next to the original (still time-sorted).
    dup_of = np.sort(rng.choice(n_unique, size=n_dup, replace=False)) if n_dup else np.empty(0, np.int64)
    rows = np.sort(np.concatenate([np.arange(n_unique, dtype=np.int64), dup_of.astype(np.int64)]))
    src = order[rows]  # row in generation order for every output row

    out_day = day_index[src]
    return _Transactions(
        id_number=rows + 1,
        id_width=max(9, len(str(n_unique))),
        user_id=user_idx[src] + 1,
        merchant_id=merchant_idx[src] + 1,
        amount=amount[src],
        amount_null=amount_null[src],
        currency=currency_idx[src],
        event_us=event_us[src],
        day_offsets=np.searchsorted(out_day, np.arange(days + 1), side="left").astype(np.int64),
    )


# --------------------------------------------------------------------------------------------------
# user profiles


def _build_profiles(rng: np.random.Generator, *, users: int, days: int, first_day_us: int) -> pa.Table:
    rows_per_user = _sample_cdf(rng, np.cumsum(np.array(_PROFILE_ROWS_P)), users) + 1
    user_idx = np.repeat(np.arange(users, dtype=np.int64), rows_per_user)
    n = len(user_idx)
    user_first_row = np.concatenate([[0], np.cumsum(rows_per_user)[:-1]]).astype(np.int64)

    # Event times spread over the whole period, ordered within each user (k = 0 is the oldest version).
    event_us = first_day_us + rng.integers(0, days * _US_PER_DAY, size=n, dtype=np.int64)
    order = np.lexsort((event_us, user_idx))
    event_us = event_us[order]
    # Make event times distinct within a user so only deliberate corrections share (user, time).
    while True:
        clash = np.flatnonzero((event_us[1:] == event_us[:-1]) & (user_idx[1:] == user_idx[:-1])) + 1
        if len(clash) == 0:
            break
        event_us[clash] += 1
    version = np.arange(n, dtype=np.int64) - user_first_row[user_idx]

    home_country = _sample_cdf(rng, np.cumsum(np.array(_COUNTRY_P)), users)
    moved = (version > 0) & (rng.random(n) < 0.1)
    country_idx = np.where(moved, rng.integers(0, len(_COUNTRIES), size=n), home_country[user_idx])

    tiers = np.array(_CREDIT_TIERS)
    base_limit = tiers[_sample_cdf(rng, np.cumsum(np.array(_CREDIT_TIER_P)), users)]
    # Limits only grow between versions: cumulative log-growth, restarted at each user's first row.
    log_step = np.where(version > 0, np.log(rng.choice([1.0, 1.0, 1.2, 1.5], size=n)), 0.0)
    log_growth = np.cumsum(log_step)
    growth = np.exp(log_growth - log_growth[user_first_row[user_idx]])
    credit_limit = np.round(base_limit[user_idx] * growth / 50.0) * 50.0

    verified_from = rng.integers(0, 5, size=users)  # version at which the user becomes verified (4: never)
    is_verified = version >= verified_from[user_idx]

    # Ingestion lag: mostly minutes to hours, a few rows land at the same microsecond.
    lag_s = np.clip(rng.lognormal(mean=np.log(900.0), sigma=1.3, size=n), 1.0, 2 * 86_400.0)
    lag_s[rng.random(n) < 0.03] = 0.0
    created_us = event_us + (lag_s * _US_PER_SECOND).astype(np.int64)

    # Corrections: same user and event time, later created time, different values.
    fix = _choose_rows(rng, n, _CORRECTION_FRACTION)
    m = len(fix)
    # Limits are >= 500 and multiples of 50, so none of these ratios rounds back to the same value.
    fix_ratio = rng.choice([0.5, 0.8, 1.25, 1.5, 2.0], size=m)
    fix_limit = np.round(credit_limit[fix] * fix_ratio / 50.0) * 50.0
    fix_country = np.where(
        rng.random(m) < 0.3,
        (country_idx[fix] + rng.integers(1, len(_COUNTRIES), size=m)) % len(_COUNTRIES),
        country_idx[fix],
    )
    fix_verified = np.where(rng.random(m) < 0.3, ~is_verified[fix], is_verified[fix])
    fix_lag_s = rng.uniform(60.0, 3 * 86_400.0, size=m)
    fix_created = created_us[fix] + (fix_lag_s * _US_PER_SECOND).astype(np.int64)

    all_user = np.concatenate([user_idx, user_idx[fix]])
    all_country = np.concatenate([country_idx, fix_country])
    all_limit = np.concatenate([credit_limit, fix_limit])
    all_verified = np.concatenate([is_verified, fix_verified])
    all_event = np.concatenate([event_us, event_us[fix]])
    all_created = np.concatenate([created_us, fix_created])

    out = np.lexsort((all_created, all_user, all_event))
    return pa.Table.from_arrays(
        [
            _int64s(all_user[out] + 1),
            _categories(_COUNTRIES, all_country[out]),
            _float64s(all_limit[out]),
            _bools(all_verified[out]),
            _int64s(all_event[out], TIMESTAMP_TYPE),
            _int64s(all_created[out], TIMESTAMP_TYPE),
        ],
        schema=PROFILE_SCHEMA,
    )
