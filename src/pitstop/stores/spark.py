"""Spark sessions built from config, with Delta Lake, UTC everywhere, and the Delta jars cached.

The Delta Lake jars are resolved once from Maven Central by Spark's own Ivy into pitstop's cache
(``$PITSTOP_CACHE_DIR``, default ``~/.cache/pitstop``); later sessions pass the cached jar files
with ``spark.jars``, so they start with no network. ``PITSTOP_DELTA_JARS`` (comma-separated paths)
overrides both for machines that get their jars another way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop.errors import SetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pitstop.config import Config

MIN_JAVA = 17
LOG4J2_FILE = Path(__file__).with_name("log4j2.properties").as_uri()
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
ENV_CACHE = "PITSTOP_CACHE_DIR"
ENV_JARS = "PITSTOP_DELTA_JARS"
# Settings that take effect only when the JVM starts: under spark-submit (a job in jobs/ run by Airflow)
# they come from the submit command, and the session the job builds leaves them alone.
SUBMIT_FIXED = ("spark.master", "spark.jars", "spark.jars.packages", "spark.jars.ivy", "spark.driver.extraJavaOptions")


def delta_coordinate() -> str:
    """io.delta:delta-spark_<spark major.minor>_2.13:<delta-spark version>, from what is installed."""
    spark = ".".join(dist_version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark}_2.13:{dist_version('delta-spark')}"


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "pitstop")


def _ivy_dir(coordinate: str) -> Path:
    return cache_dir() / "ivy" / hashlib.sha256(coordinate.encode()).hexdigest()[:12]


def _manifest(coordinate: str) -> Path:
    return cache_dir() / "jars" / (re.sub(r"[^A-Za-z0-9_.-]", "_", coordinate) + ".txt")


def cached_delta_jars(coordinate: str | None = None) -> list[Path] | None:
    """The cached jar files for the Delta coordinate, or None when they are not all there."""
    if os.environ.get(ENV_JARS):
        return [Path(p) for p in os.environ[ENV_JARS].split(",") if p]
    manifest = _manifest(coordinate or delta_coordinate())
    if not manifest.is_file():
        return None
    jars = [Path(line) for line in manifest.read_text().splitlines() if line.strip()]
    return jars if jars and all(j.is_file() for j in jars) else None


def java_major(java: str | None = None) -> int | None:
    """The major version of the java on JAVA_HOME or PATH, or None when there is none."""
    exe = java or (str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME")
                   else shutil.which("java"))
    if not exe or not Path(exe).exists():
        return None
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> int:
    major = java_major()
    if major is None or major < MIN_JAVA:
        found = "no java on JAVA_HOME or PATH" if major is None else f"Java {major}"
        raise SetupError(f"Spark 4 needs Java {MIN_JAVA} or newer, found {found}. Install it (Debian/Ubuntu: "
                         f"`sudo apt-get install openjdk-17-jre-headless`; macOS: `brew install openjdk@17`) "
                         f"or point JAVA_HOME at a JDK {MIN_JAVA}+.")
    return major


def _prepare_environment(master: str) -> None:
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def session_conf(master: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Every setting pitstop puts on a session (pure: unit-testable)."""
    conf = {
        "spark.master": master,
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_FILE}",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "true",
    }
    if master.startswith("local"):
        # one machine: the Delta log's default 50 state partitions cost seconds per table read
        conf["spark.databricks.delta.snapshotPartitions"] = "2"
        conf["spark.sql.shuffle.partitions"] = "8"
    coordinate = delta_coordinate()
    jars = cached_delta_jars(coordinate)
    if jars:
        conf["spark.jars"] = ",".join(str(j) for j in jars)
    else:
        conf["spark.jars.packages"] = coordinate
        conf["spark.jars.ivy"] = str(_ivy_dir(coordinate))
    conf.update(extra or {})
    return conf


def build_session(master: str, conf: dict[str, str] | None = None, app_name: str = "pitstop") -> SparkSession:
    """A SparkSession with Delta Lake; raises SetupError with the fix when Java or the jars are missing."""
    check_java()
    _prepare_environment(master)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    settings = session_conf(master, conf)
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: the JVM is already running
        settings = {k: v for k, v in settings.items() if k not in SUBMIT_FIXED}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway process exited" in str(exc):
            raise SetupError(
                f"Spark could not start ({type(exc).__name__}). If the log above shows `unresolved "
                f"dependency: {delta_coordinate()}`, the Delta Lake jars could not be downloaded from Maven "
                f"Central: run `make setup` (or `pitstop jars`) on a machine with access to it, put the jars "
                f"in ~/.m2/repository, or set {ENV_JARS} to their paths.") from exc
        raise


def session_for(config: Config, app_name: str = "pitstop") -> SparkSession:
    return build_session(config.spark_master, dict(config.spark_conf), app_name)


def ensure_delta_jars() -> list[Path]:
    """Resolve the Delta Lake jars (with their dependencies) once and cache them; idempotent."""
    coordinate = delta_coordinate()
    jars = cached_delta_jars(coordinate)
    if jars:
        return jars
    check_java()
    _prepare_environment("local[1]")
    ivy = _ivy_dir(coordinate)
    ivy.mkdir(parents=True, exist_ok=True)
    from pyspark.sql import SparkSession

    try:
        spark = (SparkSession.builder.master("local[1]").appName("pitstop-jars")
                 .config("spark.jars.packages", coordinate).config("spark.jars.ivy", str(ivy))
                 .config("spark.ui.enabled", "false").getOrCreate())
    except Exception as exc:
        raise SetupError(f"could not download the Delta Lake jars {coordinate} from Maven Central "
                         f"({type(exc).__name__}; Ivy's log is above). Check the network or proxy, or put "
                         f"the jars in ~/.m2/repository, or set {ENV_JARS} to their paths.") from exc
    spark.stop()
    found = sorted((ivy / "jars").glob("*.jar"))
    if not any("delta-spark" in j.name for j in found):
        raise SetupError(f"Ivy finished but no delta-spark jar is in {ivy / 'jars'}; delete {ivy} and retry")
    manifest = _manifest(coordinate)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("".join(f"{j}\n" for j in found))
    return found
