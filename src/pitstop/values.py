"""Plain values shared by the pages, the CLI, the HTTP server and the validation results: finite numbers and
the JSON form of dates and timestamps."""

from __future__ import annotations

import math
from datetime import date
from typing import Any


def finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing, not a number, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def nan_to_null(value: Any) -> Any:
    """NaN and infinities as None, through dicts, lists and tuples, so the document stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: nan_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_null(v) for v in value]
    return value


def json_default(value: object, *, strict: bool = True) -> str:
    """The ``default=`` of ``json.dumps``: a date or timestamp as its ISO 8601 text. Any other type raises
    TypeError, or with ``strict=False`` is written as its ``str()`` (for documents that carry third-party
    values, such as Great Expectations results)."""
    if isinstance(value, date):  # a datetime is a date
        return value.isoformat()
    if strict:
        raise TypeError(f"{type(value).__name__} is not JSON")
    return str(value)
