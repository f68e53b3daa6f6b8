"""Spark sessions built from config, with Delta Lake, UTC everywhere, and the jars cached.

The Delta Lake jars (and, for s3a:// stores, Hadoop's S3A connector: hadoop-aws at the exact Hadoop
version pyspark ships, with the AWS SDK bundle) are resolved once from Maven Central by Spark's own Ivy
into pitstop's cache (``$PITSTOP_CACHE_DIR``, default ``~/.cache/pitstop``); later sessions pass the
cached jar files with ``spark.jars``, so they start with no network. ``PITSTOP_DELTA_JARS`` and
``PITSTOP_S3A_JARS`` (comma-separated paths) override both for machines that get their jars another way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
ENV_S3A_JARS = "PITSTOP_S3A_JARS"
# Settings that take effect only when the JVM starts: under spark-submit (a job in jobs/ run by Airflow)
# they come from the submit command, and the session the job builds leaves them alone.
SUBMIT_FIXED = ("spark.master", "spark.jars", "spark.jars.packages", "spark.jars.ivy", "spark.driver.extraJavaOptions")


def delta_coordinate() -> str:
    """io.delta:delta-spark_<spark major.minor>_2.13:<delta-spark version>, from what is installed."""
    spark = ".".join(dist_version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark}_2.13:{dist_version('delta-spark')}"


def hadoop_version() -> str:
    """The Hadoop version of the client jars pyspark ships (hadoop-aws must match it exactly)."""
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    if not jars:
        raise SetupError(f"no hadoop-client-api jar in {Path(pyspark.__file__).parent / 'jars'}: reinstall pyspark")
    return jars[-1].name.removeprefix("hadoop-client-api-").removesuffix(".jar")


def s3a_coordinate() -> str:
    """org.apache.hadoop:hadoop-aws:<pyspark's Hadoop version> (it brings the AWS SDK v2 bundle)."""
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"


def cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "pitstop")


def log_dir() -> Path:
    """Where Spark's own log (``spark.log``) and the jar resolution logs go: ``<cache>/logs``."""
    return cache_dir() / "logs"


def spark_log() -> Path:
    return log_dir() / "spark.log"


def _ivy_dir(coordinate: str) -> Path:
    return cache_dir() / "ivy" / hashlib.sha256(coordinate.encode()).hexdigest()[:12]


def _manifest(coordinate: str) -> Path:
    return cache_dir() / "jars" / (re.sub(r"[^A-Za-z0-9_.-]", "_", coordinate) + ".txt")


def _cached(coordinate: str, env_key: str) -> list[Path] | None:
    if os.environ.get(env_key):
        return [Path(p) for p in os.environ[env_key].split(",") if p]
    manifest = _manifest(coordinate)
    if not manifest.is_file():
        return None
    jars = [Path(line) for line in manifest.read_text().splitlines() if line.strip()]
    return jars if jars and all(j.is_file() for j in jars) else None


def cached_delta_jars(coordinate: str | None = None) -> list[Path] | None:
    """The cached jar files for the Delta coordinate, or None when they are not all there."""
    return _cached(coordinate or delta_coordinate(), ENV_JARS)


def cached_s3a_jars() -> list[Path] | None:
    """The cached S3A connector jars (hadoop-aws and the AWS SDK bundle), or None when not all there."""
    return _cached(s3a_coordinate(), ENV_S3A_JARS)


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


def session_conf(master: str, extra: dict[str, str] | None = None, *, s3: bool = False) -> dict[str, str]:
    """Every setting pitstop puts on a session (pure: unit-testable); ``s3`` adds the S3A connector."""
    conf = {
        "spark.master": master,
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": (f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_FILE} "
                                          f"-Dpitstop.log.dir={log_dir()}"),
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.ansi.enabled": "true",
        # every parquet file pitstop writes (Delta data files, training sets, exports): INT64
        # TIMESTAMP(MICROS, isAdjustedToUTC=true), which pyarrow, polars and delta-rs read as UTC (not INT96)
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # sources written by pandas hold TIMESTAMP(NANOS) columns, which Spark cannot read as timestamps: they
        # come in as their epoch nanoseconds and read_source turns them into microsecond UTC timestamps
        "spark.sql.legacy.parquet.nanosAsLong": "true",
    }
    if master.startswith("local"):
        # one machine: the Delta log's default 50 state partitions cost seconds per table read
        conf["spark.databricks.delta.snapshotPartitions"] = "2"
        conf["spark.sql.shuffle.partitions"] = "8"
    jars: list[Path] = []
    packages: list[str] = []
    wanted = [(delta_coordinate(), ENV_JARS)]
    if s3:
        wanted.append((s3a_coordinate(), ENV_S3A_JARS))
    for coordinate, env_key in wanted:
        found = _cached(coordinate, env_key)
        if found:
            jars += found
        else:
            packages.append(coordinate)
    if jars:
        conf["spark.jars"] = ",".join(str(j) for j in jars)
    if packages:  # not cached yet: Spark's Ivy resolves them at session start
        conf["spark.jars.packages"] = ",".join(packages)
        conf["spark.jars.ivy"] = str(_ivy_dir(",".join(packages)))
    conf.update(extra or {})
    return conf


def build_session(master: str, conf: dict[str, str] | None = None, app_name: str = "pitstop") -> SparkSession:
    """A SparkSession with Delta Lake; raises SetupError with the fix when Java or the jars are missing."""
    return build_session_conf(master, session_conf(master, conf), app_name)


def config_conf(config: Config, master: str | None = None) -> dict[str, str]:
    """The session settings for a feature repository: pitstop's, then the S3A settings of pitstop.yaml's
    ``s3:`` section, then the user's ``spark.conf`` (which wins)."""
    extra = {**config.s3.hadoop_conf(), **config.spark_conf}
    return session_conf(master or config.spark_master, extra, s3=config.uses_s3)


def build_session_conf(master: str, settings: dict[str, str], app_name: str) -> SparkSession:
    """A SparkSession with exactly ``settings`` (from session_conf / config_conf)."""
    check_java()
    _prepare_environment(master)
    log_dir().mkdir(parents=True, exist_ok=True)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: the JVM is already running
        settings = {k: v for k, v in settings.items() if k not in SUBMIT_FIXED}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        if os.environ.get("PYSPARK_GATEWAY_PORT"):
            session = builder.getOrCreate()
        else:
            with _jvm_output_to(spark_log()):
                session = builder.getOrCreate()
    except Exception as exc:
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway process exited" in str(exc):
            wanted = settings.get("spark.jars.packages", delta_coordinate())
            raise SetupError(
                f"Spark could not start ({type(exc).__name__}). If its log, {spark_log()}, shows `unresolved "
                f"dependency` for {wanted}, the jars could not be downloaded from Maven Central: run "
                f"`make setup` (or `pitstop jars`, `pitstop jars --s3` for S3) on a machine with access to "
                f"it, put the jars in ~/.m2/repository, or set {ENV_JARS} / {ENV_S3A_JARS} to their "
                f"paths.") from exc
        raise
    quiet_query_context_loggers()
    return session


def quiet_query_context_loggers() -> None:
    """PySpark 4 logs every analysis error it converts (a whole JSON record with the JVM stack trace) through
    two loggers of its own, before the caller sees the exception. pitstop turns those errors into one line
    of its own (a UsageError naming the tables, a GX result), so the record would only be a raw stack trace
    on the user's terminal."""
    import logging

    from pyspark.logger import PySparkLogger  # its own class: a plain Logger would refuse the fields it passes

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextmanager
def _jvm_output_to(log: Path) -> Iterator[None]:
    """While a session starts, file descriptor 2 is ``log`` (appended to): a JVM that pyspark launches then
    inherits it as its stderr for good, so what Java itself prints there never reaches the terminal (the
    JVM's "Using incubator modules" notice, DataSketches' "Java versions > Java 11 can only operate in
    restricted mode" warning, Ivy's resolution output, a crash report); log4j's own log is the same file."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def default_parallelism(spark: SparkSession) -> int:
    """How many tasks run at once: the SparkContext's default parallelism in-process; over Spark Connect (no
    SparkContext here) ``spark.default.parallelism`` when set, else the N of a ``local[N]`` master (``*``: this
    machine's cores, the local engine's), else the shuffle partitions."""
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    explicit = spark.conf.get("spark.default.parallelism", None)
    if explicit:
        return int(explicit)
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", spark.conf.get("spark.master", "") or "")
    if match:
        return os.cpu_count() or 1 if match.group(1) == "*" else int(match.group(1))
    return int(spark.conf.get("spark.sql.shuffle.partitions", "8") or 8)


def is_connect(spark: SparkSession) -> bool:
    """``spark`` is a Spark Connect client session (no JVM in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def classic_env() -> dict[str, str]:
    """This process's environment without what makes a child's pyspark take the Spark Connect branch (pyspark
    sets SPARK_CONNECT_MODE_ENABLED in os.environ once a process has made a Connect session)."""
    return {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}


def _ensure(coordinate: str, cached: list[Path] | None, marker: str) -> list[Path]:
    """Resolve ``coordinate`` (with its dependencies) once with Spark's Ivy and cache the jar list. Ivy's
    output (hundreds of lines, more behind a proxy) goes to ``<cache>/logs/jars-*.log``, named on failure."""
    if cached:
        return cached
    check_java()
    _prepare_environment("local[1]")
    ivy = _ivy_dir(coordinate)
    ivy.mkdir(parents=True, exist_ok=True)
    log = log_dir() / f"jars-{ivy.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # a child process, so that the JVM it starts writes to the log, not to this terminal
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-c", "import sys; from pitstop.stores.spark import "
                               "resolve_in_process; resolve_in_process(sys.argv[1], sys.argv[2])",
                               coordinate, str(ivy)], stdout=out, stderr=subprocess.STDOUT, check=False,
                              env=classic_env())
    if done.returncode != 0:
        raise SetupError(f"could not download the jars {coordinate} from Maven Central (Ivy's log: {log}). "
                         f"Check the network or proxy, or put the jars in ~/.m2/repository, or set "
                         f"{ENV_JARS} / {ENV_S3A_JARS} to their paths.")
    found = sorted((ivy / "jars").glob("*.jar"))
    if not any(marker in j.name for j in found):
        raise SetupError(f"Ivy finished but no {marker} jar is in {ivy / 'jars'} (Ivy's log: {log}); delete "
                         f"{ivy} and retry")
    manifest = _manifest(coordinate)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("".join(f"{j}\n" for j in found))
    return found


def resolve_in_process(coordinate: str, ivy: str) -> None:
    """Start (and stop) a local Spark session that resolves ``coordinate`` into the Ivy folder ``ivy``; run
    by ``_ensure`` in a child process whose output goes to a log file."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("pitstop-jars")
             .config("spark.jars.packages", coordinate).config("spark.jars.ivy", ivy)
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.stop()


def ensure_delta_jars() -> list[Path]:
    """Resolve the Delta Lake jars (with their dependencies) once and cache them; idempotent."""
    coordinate = delta_coordinate()
    return _ensure(coordinate, cached_delta_jars(coordinate), "delta-spark")


def ensure_s3a_jars() -> list[Path]:
    """Resolve hadoop-aws (pyspark's Hadoop version) and the AWS SDK bundle once and cache them (~700 MB)."""
    return _ensure(s3a_coordinate(), cached_s3a_jars(), "hadoop-aws")
