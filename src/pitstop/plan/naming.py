"""The ONE place names are built: tables, DAG ids, feature references."""

from __future__ import annotations

from pathlib import PurePosixPath

from pitstop.definitions.windows import window_suffix

PLAN_FILE = "dags/pitstop_plan.json"
FEATURE_DEFS_DIR = "feature_defs"
CONFIG_FILE = "pitstop.yaml"
SEPARATOR = "__"


def source_location(path: str, repo: object) -> str:
    """A source path as written in a definition, resolved: URIs and absolute paths as they are, relative
    paths against the feature repository."""
    if "://" in path or PurePosixPath(path).is_absolute():
        return path
    return f"{repo}/{path}"


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


def lifetime_state_table(view: str, version: int) -> str:
    """The running total of lifetime windows: every tile up to a day, merged per key."""
    return f"state/{table_name(view, version)}"


def log_table(view: str, version: int) -> str:
    """The materialization log: the days each table holds, per run."""
    return f"log/{table_name(view, version)}"


def quality_table(view: str, version: int) -> str:
    """Every validation attempt of a view version: ds, snapshot version validated, outcome, alerts."""
    return f"quality/{table_name(view, version)}"


def stats_table(view: str, version: int) -> str:
    """Per-feature statistics and drift of each materialized ds."""
    return f"stats/{table_name(view, version)}"


def consistency_table(view: str, version: int) -> str:
    """Every sampled Redis-vs-Delta comparison of a view version (the monitor task, `pitstop consistency`)."""
    return f"consistency/{table_name(view, version)}"


def validation_report_folder(view: str, version: int, snapshot_version: int, run_id: str) -> str:
    """One validation attempt's results (ds=<D>.json per day) and GX Data Docs (docs/), beside the snapshot
    table version they validated."""
    return f"validation/{table_name(view, version)}/version={snapshot_version}/run={run_id}"


def latest_table(view: str, version: int) -> str:
    """Latest-value views keep their copied source rows here."""
    return f"latest/{table_name(view, version)}"


def dag_id(view: str, version: int) -> str:
    """One DAG per view version, so a version bump starts a fresh history."""
    return f"pitstop{SEPARATOR}{table_name(view, version)}"


def training_dag_id(name: str) -> str:
    """A TrainingSet's DAG: runs when the snapshot assets of its views update."""
    return f"pitstop{SEPARATOR}training{SEPARATOR}{name}"


def asset_uri(project: str, view: str, version: int) -> str:
    """The Airflow Asset of a view version's offline table (x-: a scheme Airflow leaves as it is)."""
    return f"x-pitstop://{project}/{table_name(view, version)}"


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


ONLINE_PREFIX = "pitstop"


def online_tag(project: str, view: str, version: int) -> str:
    """The Redis key prefix of one view version. The part in braces is a Redis Cluster hash tag: every
    key of a view version lives in one slot, so a publish switch and a read are each one atomic script."""
    return f"{ONLINE_PREFIX}:{{{project}:{table_name(view, version)}}}"


def online_pointer_key(project: str, view: str, version: int) -> str:
    """Hash naming the published generation of a view version, with its ds, Delta version and schema."""
    return f"{online_tag(project, view, version)}:current"


def online_data_prefix(project: str, view: str, version: int) -> str:
    """Data hashes are this prefix plus a generation number: field = entity key, value = packed features."""
    return f"{online_tag(project, view, version)}:g"


def online_generations_key(project: str, view: str, version: int) -> str:
    """Set of the generation numbers written for a view version (current, in progress, or garbage)."""
    return f"{online_tag(project, view, version)}:gens"


def online_sequence_key(project: str, view: str, version: int) -> str:
    return f"{online_tag(project, view, version)}:seq"


def entity_field(values: list[object] | tuple[object, ...]) -> str:
    """A hash field for an entity's join key values, unambiguous for composite keys: each value's text
    with its length in front, so (1, "12") -> "1:12:12" and (11, "2") -> "2:111:2"."""
    parts = [str(v) for v in values]
    return "".join(f"{len(p)}:{p}" for p in parts)


def parse_entity_field(text: str, dtypes: list[str]) -> list[object]:
    """The join key values an ``entity_field`` was built from, typed ("int64" -> int, "string" -> str)."""
    values: list[object] = []
    rest = text
    for dtype in dtypes:
        length, sep, rest = rest.partition(":")
        if not sep or not length.isdigit() or len(rest) < int(length):
            raise ValueError(f"{text!r} is not an entity field for {len(dtypes)} join key(s)")
        part, rest = rest[:int(length)], rest[int(length):]
        values.append(int(part) if dtype == "int64" else part)
    if rest:
        raise ValueError(f"{text!r} has more than {len(dtypes)} join key value(s)")
    return values
