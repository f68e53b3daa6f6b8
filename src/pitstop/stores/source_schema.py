"""Read a source's column types without Spark: pyarrow for parquet, the Delta log for Delta.

Types are normalized to pitstop's words (int64, float64, string, bool, timestamp, date, ...), the
vocabulary the compiler checks definitions against and the plan records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pitstop.errors import DefinitionError

_SPARK_TYPES = {
    "byte": "int64", "short": "int64", "integer": "int64", "long": "int64",
    "float": "float64", "double": "float64",
    "string": "string", "boolean": "bool",
    "timestamp": "timestamp", "timestamp_ntz": "timestamp", "date": "date", "binary": "binary",
}


def _arrow_word(arrow_type: Any) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t):
        return "float64"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    return f"other:{t}"


def _spark_word(type_json: Any) -> str:
    if isinstance(type_json, str):
        if type_json.startswith("decimal"):
            return "decimal"
        return _SPARK_TYPES.get(type_json, f"other:{type_json}")
    return f"other:{type_json.get('type', 'complex')}"


def spark_type_word(type_name: str) -> str:
    """Spark's DataType.typeName() / Delta's JSON type name -> pitstop's type word."""
    return _spark_word(type_name)


def _delta_schema(path: Path) -> dict[str, str]:
    log = path / "_delta_log"
    commits = sorted(log.glob("*.json"))
    for commit in reversed(commits):
        for line in commit.read_text().splitlines():
            if '"metaData"' not in line:
                continue
            meta = json.loads(line).get("metaData")
            if meta:
                fields = json.loads(meta["schemaString"])["fields"]
                return {f["name"]: _spark_word(f["type"]) for f in fields}
    checkpoints = sorted(log.glob("*.checkpoint*.parquet"))
    if checkpoints:
        import pyarrow.parquet as pq

        table = pq.read_table(checkpoints[-1], columns=["metaData"])
        for row in table.column("metaData").to_pylist():
            if row and row.get("schemaString"):
                fields = json.loads(row["schemaString"])["fields"]
                return {f["name"]: _spark_word(f["type"]) for f in fields}
    raise ValueError(f"no table metadata found in {log}")


def read_source_schema(path: str, fmt: str, repo: Path) -> dict[str, str] | None:
    """Column name → type word, or None when the source is not readable from here (a remote URI,
    or a path that does not exist yet). Raises DefinitionError when it exists but is not a valid
    source of that format."""
    if "://" in path:
        return None
    local = Path(path) if Path(path).is_absolute() else repo / path
    if not local.exists():
        return None
    try:
        if fmt == "delta":
            if not (local / "_delta_log").is_dir():
                raise ValueError(f"{local} has no _delta_log folder, so it is not a Delta table "
                                 f"(use format='parquet' for plain parquet files)")
            return _delta_schema(local)
        import pyarrow.dataset as ds

        dataset = ds.dataset(str(local), format="parquet", partitioning="hive",
                             exclude_invalid_files=True)
        return {f.name: _arrow_word(f.type) for f in dataset.schema}
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"cannot read the schema of {fmt} source at {local}: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own ArrowInvalid (a ValueError subclass) and more
        raise DefinitionError(f"cannot read the schema of {fmt} source at {local}: "
                              f"{type(exc).__name__}: {exc}") from exc
