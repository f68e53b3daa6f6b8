"""Great Expectations 1.x (GX Core): a view's compiled suite run on one snapshot partition.

The suite comes from the plan (pitstop.plan.quality): GX class names with their arguments, plus
pitstop's own ``avg_within_bound`` check (avg within [min, max] with a float tolerance), which runs as a
GX ``UnexpectedRowsExpectation``. Each validation runs in an ephemeral context on a Spark DataFrame,
asks for the offending rows' join keys (``unexpected_index_column_names``) and, when asked, writes GX
Data Docs (static HTML) into a folder.

``import great_expectations`` takes seconds: GX is imported only inside functions that validate or check an
expectation; `pitstop plan` asks ``cached_check_expectation``, which imports GX only for an expectation it has not
checked before under the installed GX version.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pitstop.errors import JobFailed, PlanError
from pitstop.jsontypes import JSONObject
from pitstop.plan.model import Check

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # GX otherwise reports usage over the network


_preloading: threading.Thread | None = None


def _import_quietly() -> None:
    from contextlib import suppress

    with suppress(Exception):  # the import in _gx raises it again, where it is reported
        import great_expectations  # noqa: F401


def preload() -> None:
    """Start importing GX in a background thread: a run that will validate calls this once its Spark session
    and source are up (the main thread's own heavy imports done), so the seconds GX's import takes pass while
    the run waits for Spark instead of after it. ``_gx`` waits for the thread."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=_import_quietly, name="pitstop-gx-import", daemon=True)
        _preloading.start()


def _gx() -> Any:
    import logging

    if _preloading is not None:
        _preloading.join()
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


def expectation_class(name: str) -> Any:
    """The GX expectation class of that name, or None."""
    gx = _gx()
    from great_expectations.expectations.expectation import Expectation

    cls = getattr(gx.expectations, name, None)
    if isinstance(cls, type) and issubclass(cls, Expectation) and not getattr(cls, "__abstractmethods__", None):
        return cls
    return None


def known_expectations() -> list[str]:
    gx = _gx()
    return sorted(n for n in dir(gx.expectations) if n.startswith("Expect") and expectation_class(n) is not None)


def check_expectation(name: str, kwargs: JSONObject) -> str | None:
    """Plan-time check of a declared GX expectation: the class exists and accepts the arguments."""
    cls = expectation_class(name)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(name, known_expectations(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return (f"{name!r} is not a Great Expectations 1.x expectation{hint}; see the classes in "
                f"great_expectations.expectations (https://greatexpectations.io/expectations)")
    try:
        cls(**kwargs)
    except Exception as exc:  # pydantic's ValidationError: report it as a definition error
        detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                           for e in getattr(exc, "errors", lambda: [])()) or str(exc).splitlines()[0]
        return f"{name} does not accept these arguments ({detail})"
    return None


def gx_version() -> str | None:
    """The installed Great Expectations version, read from its package metadata (GX itself is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("great_expectations")
    except PackageNotFoundError:
        return None


def expectation_cache_file(cache_dir: Path) -> Path | None:
    """Where the plan-time answers of ``check_expectation`` are kept for the installed GX version."""
    found = gx_version()
    return None if found is None else cache_dir / f"gx-expectations-{found}.json"


def cached_check_expectation(name: str, kwargs: JSONObject, cache_dir: Path) -> str | None:
    """``check_expectation``, answered from ``<cache_dir>/gx-expectations-<GX version>.json`` when this
    expectation with these arguments was checked before under the installed GX version, so that a plan with
    nothing changed does not import GX (which takes seconds). A new GX version starts a new file; a cache
    that cannot be read or written is ignored (the check is then made, as without a cache)."""
    import json

    path = expectation_cache_file(cache_dir)
    try:
        key = json.dumps([name, kwargs], sort_keys=True)
    except (TypeError, ValueError):
        key = None  # arguments that are not JSON: check them every time
    answers: JSONObject = {}
    if path is not None and key is not None:
        try:
            loaded = json.loads(path.read_text())
            answers = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            answers = {}
        cached = answers.get(key)
        if isinstance(cached, dict) and "problem" in cached:
            problem = cached["problem"]
            return problem if isinstance(problem, str) else None
    problem = check_expectation(name, kwargs)
    if path is not None and key is not None:
        answers[key] = {"problem": problem}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
            tmp.replace(path)
        except OSError:
            pass  # a read-only repository: the answer is simply not kept
    return problem


@dataclass
class Outcome:
    """One check's result on one partition."""

    label: str
    expectation_type: str
    feature: str | None
    severity: str
    origin: str
    success: bool
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None  # nulls, which column checks other than not-null do not judge
    examples: list[Any] = field(default_factory=list)
    keys: list[JSONObject] = field(default_factory=list)
    error: str | None = None

    def describe(self, limit: int = 5) -> str:
        where = f" on {self.feature}" if self.feature else ""
        text = f"{self.label} ({self.expectation_type}{where})"
        if self.error:
            return f"{text}: the check could not run (counted as failed): {self.error}"
        if self.unexpected_count is not None and self.element_count is not None:
            judged = self.element_count - (self.missing_count or 0)  # GX judges non-null values only
            pct = 100.0 * self.unexpected_count / judged if judged else 0.0
            what = "non-null rows" if self.missing_count else "rows"
            text += f": {self.unexpected_count:,} of {judged:,} {what} ({pct:.3g}%) unexpected"
        elif self.observed is not None:
            text += f": observed {self.observed!r}"
        if self.examples:
            text += "; values e.g. " + ", ".join(repr(v) for v in self.examples[:limit])
        if self.keys:
            text += "; keys " + ", ".join(
                "(" + ", ".join(f"{k}={v!r}" for k, v in key.items()) + ")" for key in self.keys[:limit])
        return text

    def to_json(self) -> JSONObject:
        return {"label": self.label, "type": self.expectation_type, "feature": self.feature,
                "severity": self.severity, "origin": self.origin, "success": self.success,
                "observed": self.observed, "element_count": self.element_count,
                "unexpected_count": self.unexpected_count, "missing_count": self.missing_count,
                "examples": self.examples, "keys": self.keys,
                "error": self.error}


def _avg_query(kwargs: Mapping[str, Any], keys: list[str]) -> str:
    avg, bound, tol = f"`{kwargs['avg']}`", f"`{kwargs['bound']}`", float(kwargs["tolerance"])
    slack = f"{tol} * greatest(abs({avg}), abs({bound}), 1.0)"
    cond = f"{avg} < {bound} - {slack}" if kwargs["side"] == "min" else f"{avg} > {bound} + {slack}"
    cols = ", ".join([*(f"`{k}`" for k in keys), avg, bound])
    return f"SELECT {cols} FROM {{batch}} WHERE {avg} IS NOT NULL AND {bound} IS NOT NULL AND {cond}"


# checks that judge each row on its own: on the union of several days they pass exactly when they pass on
# every day, so a multi-day run checks them in one validation (without `mostly`, which is a per-batch share)
ROW_LOCAL = frozenset({
    "ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeNull", "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToNotMatchRegex", "ExpectColumnValuesToMatchRegexList",
    "ExpectColumnValuesToNotMatchRegexList", "ExpectColumnValuesToBeInSet", "ExpectColumnValuesToNotBeInSet",
    "ExpectColumnValueLengthsToBeBetween", "ExpectColumnValueLengthsToEqual", "ExpectColumnPairValuesAToBeGreaterThanB",
    "ExpectColumnPairValuesToBeEqual", "ExpectColumnValuesToBeOfType", "ExpectColumnValuesToBeInTypeList",
    "ExpectColumnToExist", "avg_within_bound",
})


def row_local(entry: Check) -> bool:
    kwargs = entry.kwargs
    if kwargs.get("mostly") not in (None, 1, 1.0):
        return False
    if entry.type == "ExpectCompoundColumnsToBeUnique":
        return "ds" in (kwargs.get("column_list") or [])  # unique per (keys, ds) holds per day iff on the union
    return entry.type in ROW_LOCAL


# GX catches every exception of a check; these say Spark itself failed (retry), not the data or the check
TRANSIENT_MARKS = ("Py4J", "py4j", "Connection refused", "SparkContext was shut down", "Broken pipe",
                   "Answer from Java side is empty")


class Validator:
    """A compiled suite, built once and run on any number of partitions (one per ds)."""

    def __init__(self, suite: Sequence[Check], keys: list[str], name: str) -> None:
        self.entries = suite
        self.keys = keys
        self.name = name

    def _expectation(self, index: int, entry: Check) -> Any:
        gx = _gx()
        meta = {"pitstop_index": index, "pitstop_label": entry.label, "pitstop_severity": entry.severity,
                "pitstop_origin": entry.origin, "pitstop_feature": entry.feature}
        if entry.type == "avg_within_bound":
            return gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query=_avg_query(entry.kwargs, self.keys), description=entry.label, meta=meta)
        cls = expectation_class(entry.type)
        if cls is None:
            raise PlanError(f"the plan's suite has {entry.type!r}, which this Great Expectations release does "
                            f"not know; run `pitstop plan` to see the definition error")  # a retry cannot help
        return cls(**entry.kwargs, meta=meta)

    def _context(self, docs_dir: str | None) -> Any:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        for site in list(context.get_config().data_docs_sites or {}):
            context.delete_data_docs_site(site)
        if docs_dir is not None:
            context.add_data_docs_site("pitstop", {
                "class_name": "SiteBuilder", "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            })
        return context

    def _validate(self, context: Any, indexes: list[int], df: DataFrame, batch: str, *,
                  detail: bool) -> tuple[list[Outcome], JSONObject]:
        """The checks ``indexes`` on ``df`` (a batch named ``batch``): outcomes in that order, GX's JSON."""
        gx = _gx()
        asset = context.data_sources.add_spark(name=f"snapshots_{batch}", persist=False) \
            .add_dataframe_asset(name=self.name)
        batch_def = asset.add_batch_definition_whole_dataframe(batch)
        suite = context.suites.add(gx.ExpectationSuite(
            name=f"{self.name}_{batch}", expectations=[self._expectation(i, self.entries[i]) for i in indexes]))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{self.name}_gate_{batch}", data=batch_def, suite=suite))
        fmt: JSONObject = {"result_format": "BOOLEAN_ONLY"} if not detail else {
            "result_format": "SUMMARY", "unexpected_index_column_names": self.keys, "partial_unexpected_count": 20}
        result = definition.run(batch_parameters={"dataframe": df}, result_format=fmt)
        by_index = {(r.expectation_config.meta or {}).get("pitstop_index"): r for r in result.results}
        outcomes = [self._outcome(self.entries[i], by_index[i]) for i in indexes]
        for outcome in outcomes:
            if outcome.error and any(mark in outcome.error for mark in TRANSIENT_MARKS):
                raise JobFailed(f"Spark failed while checking {outcome.label!r} of {self.name}: {outcome.error}; "
                                f"the run is rolled back, retrying is safe")
        for i, outcome in zip(indexes, outcomes, strict=True):
            if self.entries[i].type == "avg_within_bound" and not outcome.success and outcome.error is None:
                self._offending_rows(df, self.entries[i], outcome)
        return outcomes, result.to_json_dict()

    def _checked(self, context: Any, indexes: list[int], df: DataFrame, batch: str) -> tuple[list[Outcome],
                                                                                          JSONObject]:
        """A yes/no run first (about half the cost of a detailed one); a failing batch is run again for
        observed values and the offending rows' keys."""
        outcomes, raw = self._validate(context, indexes, df, batch, detail=False)
        if all(o.success for o in outcomes):
            return outcomes, raw
        return self._validate(context, indexes, df, f"{batch}_detail", detail=True)

    def run(self, df: DataFrame, docs_dir: str | None = None) -> tuple[list[Outcome], JSONObject]:
        """Validate one partition; Data Docs HTML into ``docs_dir`` if given. Returns the outcomes in suite
        order and GX's JSON result."""
        context = self._context(docs_dir)
        outcomes, raw = self._checked(context, list(range(len(self.entries))), df, "partition")
        if docs_dir is not None:
            context.build_data_docs(site_names=["pitstop"])
        return outcomes, raw

    def run_days(self, df: DataFrame, days: list[Any], docs_dir: str | None = None) -> dict[Any, tuple[
            list[Outcome], list[JSONObject]]]:
        """Validate each day of ``df`` (a ``ds`` column): the row-local checks once on all the days together
        (per day only if that fails, to say which day), the others per day. Data Docs of every GX run into
        ``docs_dir``. Returns, per day, the outcomes in suite order and the GX results that decided them."""
        context = self._context(docs_dir)
        local = [i for i, e in enumerate(self.entries) if row_local(e)]
        per_day = [i for i in range(len(self.entries)) if i not in local]
        found: dict[Any, dict[int, Outcome]] = {d: {} for d in days}
        raws: dict[Any, list[JSONObject]] = {d: [] for d in days}
        if local and len(days) > 1:
            outcomes, raw = self._validate(context, local, df, "all_days", detail=False)
            if all(o.success for o in outcomes):
                for d in days:
                    found[d].update(zip(local, outcomes, strict=True))
                    raws[d].append(raw)
                local = []
        for d in days:
            todo = per_day + local
            if not todo:
                continue
            part = df.where(f"ds = DATE '{d}'")
            outcomes, raw = self._checked(context, todo, part, f"ds_{d}".replace("-", ""))
            found[d].update(zip(todo, outcomes, strict=True))
            raws[d].append(raw)
        if docs_dir is not None:
            context.build_data_docs(site_names=["pitstop"])
        return {d: ([found[d][i] for i in range(len(self.entries))], raws[d]) for d in days}

    def _offending_rows(self, df: DataFrame, entry: Check, outcome: Outcome) -> None:
        """Keys and values of the rows a SQL check found (GX reports only their number)."""
        view = f"_pitstop_batch_{abs(hash(self.name))}"
        df.createOrReplaceTempView(view)
        try:
            rows = df.sparkSession.sql(_avg_query(entry.kwargs, self.keys).replace("{batch}", view)) \
                .limit(20).collect()
        finally:
            df.sparkSession.catalog.dropTempView(view)
        outcome.keys = [{k: _plain(r[k]) for k in self.keys} for r in rows]
        outcome.examples = [_plain(r[entry.kwargs["avg"]]) for r in rows]

    def _outcome(self, entry: Check, r: Any) -> Outcome:
        res = r.result or {}
        info = r.exception_info or {}
        raised = info.get("raised_exception") if isinstance(info, dict) else False
        error = (info.get("exception_message") or "error") if raised else None
        keys = []
        for row in res.get("partial_unexpected_index_list") or []:
            if isinstance(row, dict):
                keys.append({k: row.get(k) for k in self.keys})
        examples = list(res.get("partial_unexpected_list") or [])
        observed = res.get("observed_value")
        unexpected = res.get("unexpected_count")
        if entry.type == "avg_within_bound" and isinstance(observed, int) and unexpected is None:
            unexpected = observed  # the query's row count; _offending_rows adds the rows' keys
        return Outcome(entry.label, entry.type, entry.feature, entry.severity, entry.origin,
                       bool(r.success) and not raised, observed=_plain(observed),
                       element_count=res.get("element_count"), unexpected_count=unexpected,
                       missing_count=res.get("missing_count"),
                       examples=[_plain(v) for v in examples], keys=[{k: _plain(v) for k, v in key.items()}
                                                                      for key in keys], error=error)


def _plain(value: Any) -> Any:
    """JSON-ready values (dates as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
