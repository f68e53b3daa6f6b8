"""Fingerprints: a data hash (fields that change values) split from a metadata hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Fields of a compiled view (see compiler.view_entry) and which hash each one belongs to.
DATA_FIELDS = ("kind", "entities", "join_keys", "source", "filter", "lateness_days", "features")
METADATA_FIELDS = ("ttl_seconds", "availability_delay_seconds", "online", "owner", "description", "tags")


def digest(value: Any) -> str:
    """A short, stable sha256 of a JSON-ready value (keys sorted, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def data_fingerprint(view_entry: dict[str, Any]) -> str:
    return digest({k: view_entry[k] for k in DATA_FIELDS})


def metadata_fingerprint(view_entry: dict[str, Any]) -> str:
    return digest({k: view_entry[k] for k in METADATA_FIELDS})
