"""PURE: per-feature statistics of snapshot partitions, binned distributions and drift (PSI, KL).

Definitions (the report, the alerts and the tests rely on them):
- statistics per (ds, feature): rows, nulls, null_fraction = nulls / rows (0 on an empty day), and over
  the non-null values of numeric features min, max, mean, stddev (sample), all exact, and approximate
  quantiles at QUANTILES (from the day's sample below);
- the sample of a day: every row of a day of at most SAMPLE_ROWS rows; of a larger day, the rows whose
  hash of (join keys, ds) falls below SAMPLE_ROWS / rows (about SAMPLE_ROWS rows, the same ones on every
  run; a feature's share of them is its non-null fraction); quantiles and drift are computed over it, so
  their cost per day is bounded;
- drift of day D against a reference R (the previous materialized ds, and the pooled materialized days of
  the baseline window [D - baseline_days, D - 1]): the bin edges are R's deciles (approximate: one KLL
  sketch per reference day's sample, merged per comparison, rank error about 0.4% at SKETCH_K; duplicates
  dropped), a value x falls in bin i = the number of edges < x (so bins are (-inf, e1], (e1, e2], ...,
  (e_last, +inf)); p and q are D's and R's proportions of the non-null sampled values per bin;
  PSI = sum((p - q) * ln(p / q)) and KL = sum(p * ln(p / q)) (KL(current || reference)), with every
  proportion floored at EPSILON so that an empty bin gives a large finite value instead of infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict

from pitstop.compute.aggregates import DS, q

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from pitstop.plan.model import Feature

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DECILES = tuple(i / 10 for i in range(1, 10))
SKETCH_K = 1000  # KLL sketches of the drift references: exact up to about this many values per day
SAMPLE_ROWS = 100_000  # quantiles and drift read about this many rows of a day (all of a smaller day)
EPSILON = 1e-4
NUMERIC_DTYPES = ("int64", "float64")


def proportions(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [max(c / total, EPSILON) if total else EPSILON for c in counts]


def _pair(current: Sequence[int], reference: Sequence[int]) -> tuple[list[float], list[float]] | None:
    """Both histograms as floored proportions; None if either is empty."""
    if len(current) != len(reference):
        raise ValueError(f"histograms over different bins: {len(current)} vs {len(reference)}")
    if not sum(current) or not sum(reference):
        return None
    return proportions(current), proportions(reference)


def psi(current: Sequence[int], reference: Sequence[int]) -> float | None:
    """Population stability index of two histograms over the same bins (None if either is empty)."""
    pair = _pair(current, reference)
    return None if pair is None else sum((a - b) * math.log(a / b) for a, b in zip(*pair, strict=True))


def kl(current: Sequence[int], reference: Sequence[int]) -> float | None:
    """KL divergence KL(current || reference) of two histograms over the same bins."""
    pair = _pair(current, reference)
    return None if pair is None else sum(a * math.log(a / b) for a, b in zip(*pair, strict=True))


def bin_index(edges: Sequence[float], value: float) -> int:
    """The bin of ``value``: the number of edges strictly below it (the Spark code does the same)."""
    return sum(1 for e in edges if e < value)


@dataclass(frozen=True)
class Comparison:
    """Day ``target`` compared with the reference days ``reference`` under ``kind`` ("previous"/"baseline")."""

    target: date
    kind: str
    reference: tuple[date, ...]


def comparisons(targets: Sequence[date], materialized: Sequence[date], baseline_days: int) -> list[Comparison]:
    """Each target against the latest materialized day before it and the materialized days of its baseline
    window; ``materialized`` holds every day that counts (earlier runs' and the targets themselves)."""
    days = sorted(set(materialized))
    out = []
    for day in sorted(targets):
        before = [d for d in days if d < day]
        if before:
            out.append(Comparison(day, "previous", (before[-1],)))
        window = tuple(d for d in before if (day - d).days <= baseline_days)
        if window:
            out.append(Comparison(day, "baseline", window))
    return out


def long_values(snapshots: DataFrame, features: Sequence[Feature]) -> DataFrame:
    """One row per (ds, numeric feature, value), the value as a double: what the drift histograms bin."""
    from pyspark.sql import functions as F

    parts = [F.struct(F.lit(f.name).alias("feature"), F.col(q(f.name)).cast("double").alias("value"))
             for f in features if f.dtype in NUMERIC_DTYPES]
    if not parts:
        return snapshots.select(DS, F.lit(None).cast("string").alias("feature"),
                                F.lit(None).cast("double").alias("value")).where(F.lit(False))
    return snapshots.select(F.col(DS), F.explode(F.array(*parts)).alias("_v")).select(DS, "_v.feature", "_v.value")


def profile(snapshots: DataFrame, features: Sequence[Feature]) -> DataFrame:
    """One pass over the (wide) snapshot rows: per (ds, feature) ``rows``, ``nulls`` and, for numeric
    features, ``min``, ``max``, ``mean`` and ``stddev`` (null for other features). One aggregation per ds
    over every feature at once, of plain aggregates that Spark compiles: exact, and the cheapest scan of
    the data there is."""
    from pyspark.sql import functions as F

    aggregates = [F.count(F.lit(1)).alias("rows")]
    parts = []
    for i, f in enumerate(features):
        column = F.col(q(f.name))
        aggregates.append(F.count_if(column.isNull()).alias(f"nulls{i}"))
        measures = [F.col(f"nulls{i}").alias("nulls")]
        if f.dtype in NUMERIC_DTYPES:
            value = column.cast("double")
            aggregates += [F.min(value).alias(f"min{i}"), F.max(value).alias(f"max{i}"),
                           F.avg(value).alias(f"mean{i}"), F.stddev_samp(value).alias(f"stddev{i}")]
            measures += [F.col(f"{m}{i}").alias(m) for m in ("min", "max", "mean", "stddev")]
        else:
            measures += [F.lit(None).cast("double").alias(m) for m in ("min", "max", "mean", "stddev")]
        parts.append(F.struct(F.lit(f.name).alias("feature"), *measures))
    return (snapshots.groupBy(DS).agg(*aggregates)
            .select(DS, "rows", F.explode(F.array(*parts)).alias("_p")).select(DS, "rows", "_p.*"))


class Profile(TypedDict):
    """Exact statistics of one feature on one day (min..stddev: numeric features only, else None)."""

    rows: int
    nulls: int
    min: float | None
    max: float | None
    mean: float | None
    stddev: float | None


def feature_statistics(profiled: DataFrame) -> dict[tuple[date, str], Profile]:
    """{(ds, feature): rows, nulls, min, max, mean, stddev} of a ``profile``."""
    return {(r[DS], r["feature"]): Profile(rows=int(r["rows"]), nulls=int(r["nulls"]), min=r["min"], max=r["max"],
                                           mean=r["mean"], stddev=r["stddev"]) for r in profiled.collect()}


SAMPLE_BUCKETS = 1 << 31


def sample(snapshots: DataFrame, columns: Sequence[str], rows_per_day: dict[date, int],
           per_day: int | None = None) -> DataFrame:
    """The rows of each day whose hash of ``columns`` (what identifies a row: the join keys, and the event
    and created timestamps of a latest-value view) and ds falls below the day's rate per_day / rows: about
    ``per_day`` (default SAMPLE_ROWS) rows of a larger day, every row of a smaller one. The hash is Spark's
    xxhash64 with its fixed seed, so the same rows give the same sample every time; only the KLL sketches
    over it compact at random, within their rank error."""
    from pyspark.sql import functions as F

    per_day = SAMPLE_ROWS if per_day is None else per_day
    over = {day: rows for day, rows in rows_per_day.items() if rows > per_day}
    if not over:
        return snapshots
    first, last = min(over), max(over)
    # the day's threshold by its offset from the first sampled day: one array lookup per row
    thresholds = [int(SAMPLE_BUCKETS * per_day / over[d]) if d in over else SAMPLE_BUCKETS
                  for d in (first + timedelta(days=i) for i in range((last - first).days + 1))]
    offset = F.datediff(F.col(DS), F.lit(first))
    limit = F.when((offset >= 0) & (offset < len(thresholds)),
                   F.try_element_at(F.array(*[F.lit(t) for t in thresholds]), (offset + 1).cast("int")))
    bucket = F.pmod(F.xxhash64(*[F.col(q(c)) for c in columns], F.col(DS)), F.lit(SAMPLE_BUCKETS))
    return snapshots.where(bucket < F.coalesce(limit, F.lit(SAMPLE_BUCKETS)))


def sketches(values: DataFrame) -> DataFrame:
    """Per (ds, feature) a KLL sketch of the non-NaN ``long_values`` (``sketch``)."""
    from pyspark.sql import functions as F

    return (values.where("value IS NOT NULL AND NOT isnan(value)").groupBy(DS, "feature")
            .agg(F.kll_sketch_agg_double("value", SKETCH_K).alias("sketch")))


def _has_values(sketch: Column) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(F.kll_sketch_get_n_double(sketch), F.lit(0)) > 0


def quantiles(sketched: DataFrame) -> dict[tuple[date, str], list[float]]:
    """{(ds, feature): the values at QUANTILES} of ``sketches`` (days without a value left out)."""
    from pyspark.sql import functions as F

    at = F.kll_sketch_get_quantile_double("sketch", F.array(*[F.lit(x) for x in QUANTILES]))
    rows = sketched.where(_has_values(F.col("sketch"))).select(DS, "feature", at.alias("q")).collect()
    return {(r[DS], r.feature): [float(x) for x in r.q] for r in rows}


class Histogram(TypedDict):
    """The reference's bin edges and both sides' bin counts (one more bin than edges)."""

    edges: list[float]
    current: list[int]
    reference: list[int]


Histograms = dict[tuple[date, str, str], Histogram]


def count_below(cuts: str, value: str, width: int) -> Column:
    """How many elements of the sorted array column ``cuts`` (``width`` elements, a power of two, padded
    with +inf) are < ``value``: a binary search of log2(width) steps in plain expressions, which Spark
    compiles, instead of a lambda over every element (a higher-order function is interpreted per row)."""
    from pyspark.sql import functions as F

    found = F.lit(0)
    step = width // 2
    while step:
        found = found + F.when(F.element_at(F.col(cuts), found + step) < F.col(value), step).otherwise(0)
        step //= 2
    return found


def histograms(values: DataFrame, plan: Sequence[Comparison], sketched: DataFrame) -> Histograms:
    """{(target, kind, feature): {"edges": [...], "current": [...], "reference": [...]}}: the reference's
    decile edges and both sides' bin counts, for the comparisons of ``plan``; ``values`` are the
    ``long_values`` of every day the plan names, ``sketched`` their ``sketches``.

    Each value is read once, however many comparisons its day belongs to (in a long backfill a day is the
    reference of up to baseline_days + 1 comparisons):
    1. a reference's edges come from merging the KLL sketches of its days (percentiles over the
       pooled values repeated every value once per comparison: a 90-day backfill of 9M snapshot rows
       spent over 30 minutes there);
    2. every value is binned once against the union of the edges of all comparisons its day belongs to;
       each comparison's bin counts are sums of those finer bins (every edge is a cut, so a finer bin
       lies inside exactly one bin of each comparison). The counts are exact."""
    from bisect import bisect_right
    from collections import defaultdict

    from pyspark.sql import functions as F

    spark = values.sparkSession
    clean = values.where("value IS NOT NULL AND NOT isnan(value)")
    roles = [(c.target, c.kind, day, role) for c in plan
             for day, role in [(c.target, "current"), *((d, "reference") for d in c.reference)]]
    references = [(target, kind, day) for target, kind, day, role in roles if role == "reference"]
    if not references:
        return {}
    reference_frame = spark.createDataFrame(references, "target date, kind string, source_ds date")
    deciles = F.array(*[F.lit(d) for d in DECILES])
    edge_rows = (sketched.join(F.broadcast(reference_frame), F.col(DS) == F.col("source_ds"))
                 .groupBy("target", "kind", "feature").agg(F.kll_merge_agg_double("sketch").alias("sketch"))
                 .where(_has_values(F.col("sketch")))
                 .select("target", "kind", "feature",
                         F.array_sort(F.array_distinct(F.kll_sketch_get_quantile_double("sketch", deciles)))
                         .alias("edges"))
                 .collect())
    edges: dict[tuple[date, str], dict[str, list[float]]] = defaultdict(dict)  # (target, kind) -> feature -> edges
    for r in edge_rows:
        edges[(r.target, r.kind)][r.feature] = [float(e) for e in r.edges]
    cuts: dict[tuple[date, str], set[float]] = defaultdict(set)
    for target, kind, source, _ in roles:
        for feature, found in edges.get((target, kind), {}).items():
            cuts[(source, feature)].update(found)
    if not cuts:
        return {}
    cut_lists = {key: sorted(found) for key, found in cuts.items()}
    width = 1 << max(len(c) for c in cut_lists.values()).bit_length()  # > every list: room for +inf padding
    cut_frame = spark.createDataFrame(
        [(d, f, c + [math.inf] * (width - len(c))) for (d, f), c in cut_lists.items()],
        f"{DS} date, feature string, cuts array<double>")
    fine = (clean.join(F.broadcast(cut_frame), [DS, "feature"])
            .select(DS, "feature", count_below("cuts", "value", width).alias("bin"))
            .groupBy(DS, "feature", "bin").count().collect())
    counts: dict[tuple[date, str], dict[int, int]] = defaultdict(dict)
    for r in fine:
        counts[(r[DS], r.feature)][int(r.bin)] = int(r["count"])
    out: Histograms = {}
    for target, kind, source, role in roles:
        for feature, coarse in edges.get((target, kind), {}).items():
            entry = out.setdefault((target, kind, feature), Histogram(edges=coarse, current=[0] * (len(coarse) + 1),
                                                                      reference=[0] * (len(coarse) + 1)))
            day_cuts = cut_lists[(source, feature)]
            for j, n in counts.get((source, feature), {}).items():
                # the values of finer bin j lie in (day_cuts[j-1], day_cuts[j]] (bin 0: <= day_cuts[0]), and
                # the comparison's edges are among the cuts: each value has as many of them below it as
                # there are <= day_cuts[j-1]
                side = entry["current"] if role == "current" else entry["reference"]
                side[0 if j == 0 else bisect_right(coarse, day_cuts[j - 1])] += n
    return out
