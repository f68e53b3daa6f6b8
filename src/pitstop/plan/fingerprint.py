"""Fingerprints: a data hash (fields that change values) split from a metadata hash."""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from pitstop.jsontypes import JSONObject

# Fields of a compiled view (see compiler.view_entry) and which hash each one belongs to.
DATA_FIELDS = ("kind", "entities", "join_keys", "source", "filter", "lateness_days", "features")
METADATA_FIELDS = ("ttl_seconds", "availability_delay_seconds", "inclusive_cutoff", "online", "owner", "description",
                   "tags", "dag", "validation", "monitoring")
# source fields that say how to orchestrate, not what the values are
SOURCE_METADATA_FIELDS = ("readiness",)


def digest(value: Any) -> str:
    """A short, stable sha256 of a JSON-ready value (keys sorted, no whitespace)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _normalized_path(path: str) -> str:
    if "://" in path:
        return path.rstrip("/")
    return posixpath.normpath(path)


def data_fingerprint(view_entry: JSONObject) -> str:
    """Hash of what determines values, normalized so edits that change no value change no hash:
    aggregate features in name order (their order in the file is irrelevant), the source path
    normalized, and the source/entity *names* left out (renaming an object changes no value)."""
    canonical = {k: view_entry[k] for k in DATA_FIELDS if k != "entities"}
    source = {k: v for k, v in view_entry["source"].items() if k != "name" and k not in SOURCE_METADATA_FIELDS}
    source["path"] = _normalized_path(source["path"])
    canonical["source"] = source
    if view_entry["kind"] == "aggregate":
        canonical["features"] = sorted(view_entry["features"], key=lambda f: f["name"])
    return digest(canonical)


def metadata_fingerprint(view_entry: JSONObject) -> str:
    fields = {k: view_entry[k] for k in METADATA_FIELDS}
    fields["source"] = {k: view_entry["source"][k] for k in SOURCE_METADATA_FIELDS}
    return digest(fields)
