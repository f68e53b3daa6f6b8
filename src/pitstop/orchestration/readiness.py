"""Moved: the readiness checks are ``pitstop.stores.readiness``, the Delta log reader ``pitstop.stores.delta_log``.

Only ``read_delta_table`` stays here, for runtime/status.py and runtime/catalog_page.py, which are being
rewritten on the templates branch; removed at its merge, when both import ``pitstop.stores.delta_log.read_table``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


def read_delta_table(path: str, columns: list[str] | None = None, s3: Mapping[str, Any] | None = None) -> pa.Table:
    """``pitstop.stores.delta_log.read_table``."""
    from pitstop.stores.delta_log import read_table

    return read_table(path, columns, s3)
