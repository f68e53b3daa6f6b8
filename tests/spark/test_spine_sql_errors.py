"""A spine SQL query that cannot run is a clear, terminal error (not a Spark stack trace that Airflow retries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pitstop.errors import UsageError

pytestmark = pytest.mark.spark


def test_spine_sql_on_a_missing_path_says_what_and_where(spark: Any, tmp_path: Path) -> None:
    from pitstop.runtime.training_set import _spine_relation

    missing = tmp_path / "labels"
    with pytest.raises(UsageError) as err:
        _spine_relation(spark, f"SELECT * FROM parquet.`{missing}`", "spine")
    message = str(err.value)
    assert message.startswith("the spine SQL does not run: [PATH_NOT_FOUND] Path does not exist: ")
    assert str(missing) in message
    assert message.endswith("(relative paths are relative to the working directory: the repository for the CLI "
                            "and the Airflow tasks)")
    assert err.value.terminal
    with pytest.raises(UsageError, match=r"^the spine SQL does not run: \[PARSE_SYNTAX_ERROR\]"):
        _spine_relation(spark, "SELECT user_id FROM (", "spine")
    with pytest.raises(UsageError, match=r"^the spine SQL does not run: \[TABLE_OR_VIEW_NOT_FOUND\]"):
        _spine_relation(spark, "SELECT user_id FROM no_such_labels", "spine")
