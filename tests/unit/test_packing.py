"""The vectorised write-path encoders against the reference encoders they replace (msgpack, entity_field)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import msgpack
import pyarrow as pa
import pytest

from pitstop.plan import naming
from pitstop.stores import packing

INTS = [0, 1, 127, 128, -1, -33, 2**62, -(2**63), None]
FLOATS = [0.5, None, -1e300, 3.0, float("nan"), 1.0, float("inf"), -0.0, 2.5]
TEXTS = ["", "a" * 31, "b" * 32, "é" * 200, "x" * 300, None, "y" * 70_000, "z:1", "日本"]
BOOLS = [True, False, None, True, True, False, True, None, False]
TIMES = [datetime(2026, 1, 1, 12, 30, 1, 5, tzinfo=UTC), None, datetime(1969, 12, 31, 23, 59, tzinfo=UTC)] * 3
DATES = [date(2026, 1, 1), None, date(1960, 2, 29)] * 3


def _epoch_us(t: datetime | None) -> int | None:
    return None if t is None else (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.mark.parametrize(("values", "kind", "expected"), [
    (INTS, pa.int64(), INTS),
    (FLOATS, pa.float64(), FLOATS),
    (TEXTS, pa.string(), TEXTS),
    (BOOLS, pa.bool_(), BOOLS),
    (TIMES, pa.timestamp("us", tz="UTC"), [_epoch_us(t) for t in TIMES]),
    (DATES, pa.date32(), [None if d is None else (d - date(1970, 1, 1)).days for d in DATES]),
])
def test_cells_decode_to_the_value_msgpack_would_give(values: list, kind: pa.DataType, expected: list) -> None:
    cells = packing.msgpack_cells(pa.array(values, kind)).to_pylist()
    decoded = [msgpack.unpackb(c) for c in cells]
    for got, want in zip(decoded, expected, strict=True):
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want and type(got) is type(want), (got, want)
    if kind in (pa.float64(), pa.string(), pa.bool_()):  # one encoding only: byte for byte msgpack's
        assert cells == [msgpack.packb(v) for v in values]


def test_rows_are_fixed_arrays_of_every_column_in_order() -> None:
    columns = [pa.array(INTS), pa.array(FLOATS), pa.array(TEXTS), pa.array(BOOLS)]
    rows = packing.msgpack_rows(columns, len(INTS)).to_pylist()
    assert [msgpack.unpackb(r) for r in rows][:3] == [[0, 0.5, "", True], [1, None, "a" * 31, False],
                                                      [127, -1e300, "b" * 32, None]]
    wide = [pa.array([i]) for i in range(17)]  # 16 or more columns: the array16 header
    assert msgpack.unpackb(packing.msgpack_rows(wide, 1)[0].as_py()) == list(range(17))
    assert [msgpack.unpackb(r) for r in packing.msgpack_rows([], 2).to_pylist()] == [[], []]
    with pytest.raises(TypeError, match="no online encoding for Arrow type decimal128"):
        packing.msgpack_cells(pa.array([1], pa.decimal128(5, 2)))


def test_entity_fields_equal_naming_entity_field() -> None:
    ids = [1, 22, -3, 1234567890123]
    devices = ["a", "é:x", "", "日本"]
    fields = packing.entity_fields([pa.array(ids), pa.array(devices)]).to_pylist()
    assert fields == [naming.entity_field([i, d]) for i, d in zip(ids, devices, strict=True)]
    assert packing.entity_fields([pa.array(ids)]).to_pylist() == [naming.entity_field([i]) for i in ids]


def test_hset_commands_are_resp_with_at_most_n_pairs_each() -> None:
    fields = pa.array(["1:1", "1:2", "1:3"])
    values = pa.array([b"\x91\x01", b"\x91\xc0", b"\x91\xa2ab"])
    commands = list(packing.hset_commands(b"k:g1", fields, [values], 2))
    assert commands == [
        b"*6\r\n$4\r\nHSET\r\n$4\r\nk:g1\r\n$3\r\n1:1\r\n$2\r\n\x91\x01\r\n$3\r\n1:2\r\n$2\r\n\x91\xc0\r\n",
        b"*4\r\n$4\r\nHSET\r\n$4\r\nk:g1\r\n$3\r\n1:3\r\n$4\r\n\x91\xa2ab\r\n",
    ]
    # a sliced batch (non-zero array offset) encodes only its own rows
    assert list(packing.hset_commands(b"k", fields.slice(2), [values.slice(2)], 5)) == [
        b"*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$3\r\n1:3\r\n$4\r\n\x91\xa2ab\r\n"]
    # values given as parts (header bytes + cell arrays) are joined per row
    parts = packing.msgpack_row_parts([pa.array([5, 300]), pa.array(["é", None])])
    commands = list(packing.hset_commands(b"k", pa.array(["1:1", "1:2"]), parts, 10))
    assert commands == [b"*6\r\n$4\r\nHSET\r\n$1\r\nk\r\n$3\r\n1:1\r\n$5\r\n\x92\x05\xa2\xc3\xa9\r\n"
                        b"$3\r\n1:2\r\n$11\r\n\x92\xd3" + (300).to_bytes(8, "big") + b"\xc0\r\n"]
