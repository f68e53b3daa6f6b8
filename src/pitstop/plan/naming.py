"""The ONE place names are built: tables, DAG ids, feature references (design.md §2)."""

from __future__ import annotations

from pitstop.definitions.windows import window_suffix

PLAN_FILE = "dags/pitstop_plan.json"
FEATURE_DEFS_DIR = "feature_defs"
CONFIG_FILE = "pitstop.yaml"
SEPARATOR = "__"


def feature_name(base: str, window_days: int | None) -> str:
    """``{column}_{function}`` or ``name=``, plus the window suffix: amount_sum_7d, count_lifetime."""
    return f"{base}_{window_suffix(window_days)}"


def table_name(view: str, version: int) -> str:
    """A view version's table name: user_transactions__v1 (Delta folder and Spark SQL table)."""
    return f"{view}{SEPARATOR}v{version}"


def snapshot_table(view: str, version: int) -> str:
    return f"snapshots/{table_name(view, version)}"


def tile_table(view: str, version: int) -> str:
    return f"tiles/{table_name(view, version)}"


def latest_table(view: str, version: int) -> str:
    """Latest-value views keep their copied source rows here."""
    return f"latest/{table_name(view, version)}"


def dag_id(view: str, version: int) -> str:
    """One DAG per view version, so a version bump starts a fresh history."""
    return f"pitstop{SEPARATOR}{table_name(view, version)}"


def full_feature_name(view: str, feature: str) -> str:
    return f"{view}{SEPARATOR}{feature}"


def feature_ref(view: str, feature: str) -> str:
    return f"{view}:{feature}"


def parse_feature_ref(ref: str) -> tuple[str, str]:
    """Split "view:feature"; raises ValueError with the expected form."""
    view, sep, feature = ref.partition(":")
    if not sep or not view or not feature or ":" in feature:
        raise ValueError(f"bad feature reference {ref!r}: write it as view:feature, e.g. "
                         f"user_transactions:amount_sum_7d")
    return view, feature
