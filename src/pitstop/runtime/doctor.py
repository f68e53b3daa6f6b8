"""`pitstop doctor`: check every part pitstop needs is really there and working."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from pitstop.config import Config
from pitstop.errors import PitstopError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _java(config: Config) -> str:
    from pitstop.stores.spark import check_java

    return f"Java {check_java()}"


def _delta(config: Config) -> str:
    """A real Spark session writes a Delta table twice and reads version 0 back (time travel)."""
    from pitstop.stores.engine import session_for
    from pitstop.stores.spark import cached_delta_jars, delta_coordinate

    started = time.monotonic()
    spark = session_for(config, "pitstop-doctor")
    with tempfile.TemporaryDirectory(prefix="pitstop-doctor-") as tmp:
        spark.range(3).write.format("delta").save(tmp)
        spark.range(5).write.format("delta").mode("overwrite").save(tmp)
        v0 = spark.read.format("delta").option("versionAsOf", 0).load(tmp).count()
        v1 = spark.read.format("delta").load(tmp).count()
    if (v0, v1) != (3, 5):
        raise PitstopError(f"Delta time travel returned {v0} and {v1} rows, expected 3 and 5")
    jars = "cached jars" if cached_delta_jars() else "jars resolved at session start"
    return (f"Spark {spark.version} ({config.spark_master}) + {delta_coordinate()} ({jars}): "
            f"wrote and time-travelled a Delta table in {time.monotonic() - started:.1f}s")


def _redis(config: Config) -> str:
    from pitstop.stores.redis_client import ping

    return f"Redis {ping(config.online_store_url)} at {config.online_store_url_redacted}"


CHECKS: tuple[tuple[str, Callable[[Config], str]], ...] = (
    ("java", _java), ("spark+delta", _delta), ("redis", _redis))


def run_checks(config: Config, only: tuple[str, ...] = ()) -> list[Check]:
    results = []
    for name, check in CHECKS:
        if only and name not in only:
            continue
        try:
            results.append(Check(name, True, check(config)))
        except PitstopError as exc:
            results.append(Check(name, False, str(exc)))
    return results
