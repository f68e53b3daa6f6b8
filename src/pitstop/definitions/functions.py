"""The aggregation functions, their input rules and result types (the table in docs/semantics.md)."""

from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("int64", "float64", "string", "bool", "timestamp")
NUMERIC = ("int64", "float64")
ORDERABLE = ("int64", "float64", "string", "bool", "timestamp", "date")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    needs_column: bool
    accepts: tuple[str, ...] | None  # None: any column type
    result: str  # "int64", "float64", "column" (the column's type) or "sum" (int64 for ints, else float64)
    empty: str  # value over no (non-null) values: "0" or "null"

    def result_dtype(self, column_dtype: str | None) -> str:
        if self.result == "column":
            assert column_dtype is not None  # guaranteed: needs_column
            return column_dtype
        if self.result == "sum":
            return "int64" if column_dtype == "int64" else "float64"
        return self.result


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("count", needs_column=False, accepts=None, result="int64", empty="0"),
        FunctionSpec("sum", needs_column=True, accepts=NUMERIC, result="sum", empty="0"),
        FunctionSpec("avg", needs_column=True, accepts=NUMERIC, result="float64", empty="null"),
        FunctionSpec("min", needs_column=True, accepts=ORDERABLE, result="column", empty="null"),
        FunctionSpec("max", needs_column=True, accepts=ORDERABLE, result="column", empty="null"),
        FunctionSpec("count_distinct", needs_column=True, accepts=None, result="int64", empty="0"),
        FunctionSpec("approx_count_distinct", needs_column=True, accepts=None, result="int64", empty="0"),
        FunctionSpec("last", needs_column=True, accepts=None, result="column", empty="null"),
        FunctionSpec("stddev_samp", needs_column=True, accepts=NUMERIC, result="float64", empty="null"),
        FunctionSpec("var_samp", needs_column=True, accepts=NUMERIC, result="float64", empty="null"),
    )
}

FUNCTION_NAMES = tuple(FUNCTIONS)
