"""Names for values at pitstop's JSON boundaries: plan and manifest files, HTTP bodies, Great Expectations
results, Spark's commit info. Inside pitstop these are turned into typed objects (the plan into
``pitstop.plan.model``); these names mark the places where data is still the decoded JSON."""

from __future__ import annotations

from typing import Any

JSON = Any
"""Any value decoded from, or encodable to, JSON (dict, list, str, int, float, bool, None)."""

JSONObject = dict[str, Any]
"""A decoded JSON object (or one about to be encoded)."""

Record = dict[str, Any]
"""A row read from one of pitstop's own Delta tables without Spark (column name -> value, as pyarrow gives it)."""
