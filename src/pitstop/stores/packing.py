"""Column-at-a-time encoders for the online store's write path: Arrow columns in, Redis commands out.

Publishing used to build one Python object per value (``to_pylist``), one msgpack call and one dict entry
per entity; at a million entities that, not Redis, was the bottleneck. Here every step is a vectorised
Arrow or NumPy operation over a whole record batch:

* ``msgpack_cells``: one msgpack-encoded cell per row of a column (nil, bool, int, float64, str), the
  bytes ``msgpack.packb`` would accept back to the same value;
* ``msgpack_rows``: the cells of several columns joined under a fixed-array header, one value per row,
  decoded by ``msgpack.unpackb`` into the list ``[v1, v2, ...]``;
* ``entity_fields``: ``naming.entity_field`` of every row (length-prefixed join key texts);
* ``hset_commands``: RESP ``HSET key field value ...`` commands over consecutive rows, sliced straight
  out of one Arrow buffer.

Unit tests check every encoder byte for byte against ``msgpack.packb`` / ``naming.entity_field``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NIL = 0xC0
FALSE, TRUE = 0xC2, 0xC3
FLOAT64 = 0xCB
INT64 = 0xD3
STR8, STR16, STR32 = 0xD9, 0xDA, 0xDB


def _binary(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int32, n + 1) and an empty data buffer for cells of the given byte lengths."""
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("a record batch of more than 2 GiB of online values; lower the Arrow batch size")
    return offsets.astype(np.int32), np.empty(int(offsets[-1]), dtype=np.uint8)


def _array(offsets: np.ndarray, data: np.ndarray) -> pa.BinaryArray:
    return pa.BinaryArray.from_buffers(pa.binary(), offsets.size - 1, [None, pa.py_buffer(offsets),
                                                                        pa.py_buffer(data)])


def _put(data: np.ndarray, starts: np.ndarray, payload: np.ndarray) -> None:
    """Write payload row i (a uint8 matrix) at data[starts[i]:]."""
    if starts.size:
        data[starts[:, None] + np.arange(payload.shape[1])] = payload


def _fixed(tags: np.ndarray, payload: np.ndarray, one_byte: np.ndarray) -> pa.BinaryArray:
    """Cells that are either one byte (tags[i], where one_byte[i]) or a tag and 8 big-endian bytes."""
    n = tags.size
    if one_byte.all():  # e.g. small counts: the tags are the data
        return _array(np.arange(n + 1, dtype=np.int32), np.ascontiguousarray(tags))
    if not one_byte.any():  # e.g. floats without nulls: fixed 9-byte cells
        return _array(np.arange(0, 9 * n + 1, 9, dtype=np.int32), np.hstack([tags[:, None], payload]).ravel())
    lengths = np.where(one_byte, 1, 9)
    offsets, data = _binary(lengths)
    starts = offsets[:-1]
    data[starts] = tags
    long = ~one_byte
    _put(data, starts[long] + 1, payload[long])
    return _array(offsets, data)


def _int_cells(values: np.ndarray, nulls: np.ndarray) -> pa.BinaryArray:
    values = values.astype(np.int64)
    small = (values >= 0) & (values <= 127)  # positive fixint: the value is the byte
    tags = np.where(nulls, NIL, np.where(small, values, INT64)).astype(np.uint8)
    payload = values.astype(">i8").view(np.uint8).reshape(-1, 8)
    return _fixed(tags, payload, nulls | small)


def _float_cells(values: np.ndarray, nulls: np.ndarray) -> pa.BinaryArray:
    tags = np.where(nulls, NIL, FLOAT64).astype(np.uint8)
    payload = values.astype(">f8").view(np.uint8).reshape(-1, 8)
    return _fixed(tags, payload, nulls)


def _str_cells(column: pa.Array) -> pa.BinaryArray:
    text = pc.cast(column, pa.binary())
    nulls = np.asarray(column.is_null())
    lengths = np.asarray(pc.fill_null(pc.binary_length(text), 0)).astype(np.int64)
    size = np.select([nulls, lengths < 32, lengths < 256, lengths < 65536], [1, 1, 2, 3], 5)
    offsets, data = _binary(size)
    starts = offsets[:-1]
    data[starts] = np.select([nulls, lengths < 32, lengths < 256, lengths < 65536],
                             [NIL, 0xA0 | (lengths & 0x1F), STR8, STR16], STR32).astype(np.uint8)
    for width, mask in ((1, size == 2), (2, size == 3), (4, size == 5)):
        be = lengths[mask].astype(f">u{width}").view(np.uint8).reshape(-1, width)
        _put(data, starts[mask] + 1, be)
    headers = _array(offsets, data)
    return pc.if_else(column.is_null(), headers, pc.binary_join_element_wise(headers, pc.fill_null(text, b""), b""))


def msgpack_cells(column: pa.Array) -> pa.BinaryArray:
    """The msgpack encoding of each value of a column (timestamps as epoch microseconds, dates as epoch
    days; any other type is refused)."""
    kind = column.type
    nulls = np.asarray(column.is_null())
    if pa.types.is_timestamp(kind):
        column = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    elif pa.types.is_date32(kind):
        column = pc.cast(column, pa.int32())
    kind = column.type
    if pa.types.is_boolean(kind):
        truth = np.asarray(pc.fill_null(column, False))
        tags = np.where(nulls, NIL, np.where(truth, TRUE, FALSE)).astype(np.uint8)
        return _fixed(tags, np.zeros((len(column), 8), np.uint8), np.ones(len(column), bool))
    if pa.types.is_integer(kind):
        return _int_cells(np.asarray(pc.fill_null(column, 0)), nulls)
    if pa.types.is_floating(kind):
        return _float_cells(np.asarray(pc.fill_null(pc.cast(column, pa.float64()), 0.0)), nulls)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _str_cells(column)
    raise TypeError(f"no online encoding for Arrow type {kind}")


def msgpack_row_parts(columns: Sequence[pa.Array]) -> list[pa.Array | bytes]:
    """The pieces of one msgpack fixed array per row (the header, then each column's cells): joined, they
    are the row's value ``[v1, v2, ...]``."""
    small = len(columns) < 16
    header = bytes([0x90 | len(columns)]) if small else b"\xdc" + len(columns).to_bytes(2, "big")
    return [header, *[msgpack_cells(c) for c in columns]]


def msgpack_rows(columns: Sequence[pa.Array], rows: int) -> pa.BinaryArray:
    """One msgpack fixed array per row holding that row's value of every column, in order."""
    parts = msgpack_row_parts(columns)
    if not columns:
        return pa.array([parts[0]] * rows, pa.binary())
    return pc.binary_join_element_wise(*parts, b"")


def entity_fields(columns: Sequence[pa.Array]) -> pa.Array:
    """``naming.entity_field`` of every row: each join key's text with its length (in characters) before it."""
    parts: list[pa.Array | str] = []
    for column in columns:
        text = pc.cast(column, pa.string())
        parts += [pc.cast(pc.utf8_length(text), pa.string()), ":", text]
    return pc.binary_join_element_wise(*parts, "")


def _decimal(lengths: np.ndarray | int) -> pa.Array:
    return pc.cast(pc.cast(pa.array(lengths), pa.string()), pa.binary())


def _lengths(part: pa.Array | bytes, rows: int) -> np.ndarray | int:
    if isinstance(part, bytes):
        return len(part)
    offsets = np.frombuffer(part.buffers()[1], dtype=np.int32)[part.offset:part.offset + rows + 1]
    return np.diff(offsets)


def hset_commands(key: bytes, fields: pa.Array, value_parts: Sequence[pa.Array | bytes], per_command: int) -> \
        Iterator[bytes]:
    """RESP ``HSET key f1 v1 f2 v2 ...`` commands of at most ``per_command`` field/value pairs each; each
    row's value is its ``value_parts`` joined (arrays give one piece per row, bytes the same piece to all)."""
    fields = pc.cast(fields, pa.binary())
    rows = len(fields)
    value_lengths = sum((_lengths(p, rows) for p in value_parts), start=np.zeros(rows, dtype=np.int64))
    pairs = pc.binary_join_element_wise(b"$", _decimal(_lengths(fields, rows)), b"\r\n", fields, b"\r\n$",
                                        _decimal(value_lengths), b"\r\n", *value_parts, b"\r\n", b"")
    offsets = np.frombuffer(pairs.buffers()[1], dtype=np.int32)[pairs.offset:pairs.offset + len(pairs) + 1]
    data = memoryview(pairs.buffers()[2])
    prefix = b"$4\r\nHSET\r\n$%d\r\n%s\r\n" % (len(key), key)
    for start in range(0, len(pairs), per_command):
        end = min(start + per_command, len(pairs))
        yield b"*%d\r\n" % (2 + 2 * (end - start)) + prefix + data[offsets[start]:offsets[end]].tobytes()
