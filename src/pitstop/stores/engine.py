"""The warm engine: a local Spark Connect server that commands, the Python API, Airflow's tasks and the tests
connect to, instead of each starting a JVM, loading the Delta jars and warming up Spark again.

``pitstop engine start`` launches Spark's own Connect server (``SparkConnectServer``, shipped with pyspark)
for a feature repository: the repository's master (``local[N]``), pitstop's Spark settings, the cached Delta
jars (and the S3A connector when the repository uses S3), bound to 127.0.0.1 on a free port. Its state is
``<repo>/.pitstop/engine.json``. Every later session for that repository (``session_for``) uses the engine
when it runs and was started with the same start-up settings (master, jars, extensions, Hadoop settings,
driver options); otherwise the session starts in-process as before: a cold command is slower, never wrong.

Which engine a session uses, first match wins:

1. ``PITSTOP_ENGINE=local``: in-process (``local[N]`` or the configured master), ignoring a running engine;
2. ``PITSTOP_ENGINE=sc://host:port``: that Connect endpoint (e.g. a cluster's, or the tests' engine);
3. ``spark.master: sc://host:port`` in pitstop.yaml: that Connect endpoint;
4. the repository's running engine (``pitstop engine start``), when its start-up settings match;
5. in-process.

Over Connect the settings that only take effect when a JVM starts (master, jars, extensions, driver
options, ``spark.hadoop.*``) are the server's; the session settings (time zone, ANSI mode, shuffle
partitions, a repository's ``spark.conf``) are set on each client session.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pitstop.errors import SetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pitstop.config import Config

ENV_ENGINE = "PITSTOP_ENGINE"
STATE_FILE = "engine.json"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# settings a Spark Connect client cannot change: they are fixed when the server's JVM starts
STATIC_PREFIXES = ("spark.master", "spark.jars", "spark.driver.", "spark.executor.", "spark.sql.extensions",
                   "spark.sql.catalog.spark_catalog", "spark.hadoop.", "spark.ui.", "spark.local.dir",
                   "spark.serializer", "spark.memory.", "spark.default.parallelism", "spark.cores.max",
                   "spark.connect.", "spark.app.name")
# Connect's gRPC messages default to 128 MiB; a training set or a snapshot collected to the client can be larger
SERVER_DEFAULTS = {"spark.connect.grpc.maxInboundMessageSize": str(1 << 30)}


# This process's choice, ahead of PITSTOP_ENGINE, which its child processes still read: a host that runs Spark
# in-process itself and starts pitstop commands as children (a test runner) sets it to "local".
this_process: str | None = None


def is_static(key: str) -> bool:
    return key.startswith(STATIC_PREFIXES)


def fingerprint(settings: dict[str, str]) -> str:
    """A digest of the start-up settings of an engine (the ones a client cannot change)."""
    static = sorted((k, v) for k, v in settings.items() if is_static(k))
    return hashlib.sha256(json.dumps(static).encode()).hexdigest()[:16]


@dataclass
class Engine:
    url: str
    pid: int
    master: str
    fingerprint: str
    log: str
    started: float
    warm_up_s: float | None = None  # the start's warm-up workload (``warm_up``); None: none ran, or it failed

    def alive(self) -> bool:
        return _pid_alive(self.pid) and endpoint_answers(self.url, 0.5)


def state_path(repo: Path) -> Path:
    return repo / ".pitstop" / STATE_FILE


def load(repo: Path) -> Engine | None:
    try:
        return Engine(**json.loads(state_path(repo).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) answers kill(0) but is not running
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def endpoint_answers(url: str, timeout_s: float = 3.0) -> bool:
    """A TCP connection to the host and port of ``url`` (sc://host:port/;params) succeeds."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("sc://", "http://", 1))
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 15002), timeout=timeout_s):
            return True
    except OSError:
        return False


def remote_for(config: Config) -> str | None:
    """The Spark Connect URL a session for ``config`` should use, or None for an in-process session (see the
    module's docstring for the order)."""
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: its JVM runs already
        return None
    chosen = (this_process or os.environ.get(ENV_ENGINE, "")).strip()
    if chosen == "local":
        return None
    if chosen.startswith("sc://"):
        return chosen
    if chosen:
        raise SetupError(f"{ENV_ENGINE}={chosen!r} is neither `local` nor a Spark Connect URL (sc://host:port): "
                         f"unset it, or set it to one of those")
    if config.spark_master.startswith("sc://"):
        return config.spark_master
    engine = load(config.repo)
    if engine is None or not engine.alive():
        return None
    from pitstop.stores.spark import config_conf

    return engine.url if engine.fingerprint == fingerprint(config_conf(config)) else None


def _server_command(settings: dict[str, str], port: int) -> tuple[list[str], dict[str, str]]:
    from pitstop.stores.local_spark import spark_home
    from pitstop.stores.spark import classic_env

    settings = {**SERVER_DEFAULTS, **settings}
    master = settings.pop("spark.master")
    jars = settings.pop("spark.jars", "")
    command = [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "pitstop-engine",
               "--master", master]
    if jars:
        command += ["--jars", jars]
    settings.update({"spark.connect.grpc.binding.address": "127.0.0.1",
                     "spark.connect.grpc.binding.port": str(port)})
    for key, value in sorted(settings.items()):
        command += ["--conf", f"{key}={value}"]
    env = {k: v for k, v in classic_env().items() if k not in ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")}
    env.update({"SPARK_CONNECT_MODE": "0", "SPARK_HOME": str(spark_home()),
                "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    if master.startswith("local"):
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return command, env


def start(config: Config, *, port: int | None = None, timeout_s: float = 180.0) -> Engine:
    """Start the repository's engine (or return the running one when its settings match; a running one with
    other settings is stopped first). SetupError, with the server log's tail, when it does not come up."""
    from pitstop.stores.spark import config_conf, ensure_delta_jars, ensure_s3a_jars

    running = load(config.repo)
    settings = config_conf(config)
    if running is not None and running.alive():
        if running.fingerprint == fingerprint(settings):
            return running
        stop(config.repo)
    ensure_delta_jars()  # cached: the server starts without resolving anything
    if config.uses_s3:
        ensure_s3a_jars()
    engine = start_server(config_conf(config), config.repo, port=port, timeout_s=timeout_s)
    engine.warm_up_s = warm_up(engine.url, settings)
    path = state_path(config.repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(engine), indent=2))
    return engine


def start_server(settings: dict[str, str], cwd: Path, *, port: int | None = None,
                 timeout_s: float = 180.0) -> Engine:
    """Start a Spark Connect server with ``settings`` (session_conf / config_conf, the jars in ``spark.jars``)
    on 127.0.0.1 and wait until it accepts connections; it records no state (``start`` does)."""
    from pitstop.stores.local_redis import free_port
    from pitstop.stores.spark import check_java, log_dir

    check_java()
    port = port or free_port()
    command, env = _server_command(settings, port)
    log_dir().mkdir(parents=True, exist_ok=True)
    log = log_dir() / f"engine-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    engine = Engine(f"sc://127.0.0.1:{port}", proc.pid, settings["spark.master"], fingerprint(settings), str(log),
                    time.time())
    deadline = time.monotonic() + timeout_s
    while not endpoint_answers(engine.url, 0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SetupError(f"the Spark Connect engine did not start on 127.0.0.1:{port} (exit code "
                             f"{proc.poll()}); its log ({log}) ends:\n{tail}")
        time.sleep(0.2)
    return engine


def warm_up(url: str, settings: dict[str, str]) -> float | None:
    """Run a small materialization-like workload on a freshly started engine (parquet read, aggregates with a
    shuffle, partitioned Delta writes, a replaceWhere, time travel, the history, a join, a sketch) in a
    temporary folder, so that the first real command does not pay for the JVM loading and compiling those
    code paths: on this 2-core machine the first one-day run on a fresh engine took twice as long as the
    second. Its seconds, or None when it failed (the engine works all the same; the reason is logged)."""
    import logging
    import shutil
    import tempfile

    began = time.monotonic()
    folder = tempfile.mkdtemp(prefix="pitstop-warm-up-")
    try:
        from pyspark.sql import functions as F

        spark = connect_session(url, settings)
        try:
            events = spark.range(20_000).selectExpr(
                "id % 997 AS user_id", "id % 31 AS merchant_id", "CAST(id % 89 AS DOUBLE) * 1.5 AS amount",
                "DATE_ADD(DATE '2026-01-01', CAST(id % 3 AS INT)) AS ds",
                "TIMESTAMP_SECONDS(1767225600 + id * 13) AS event_timestamp")
            events.write.partitionBy("ds").parquet(f"{folder}/source")
            source = spark.read.parquet(f"{folder}/source")
            tiles = source.groupBy("user_id", "ds").agg(
                F.count(F.lit(1)).alias("n"), F.sum("amount").alias("total"), F.max("amount").alias("top"),
                F.max_by("amount", "event_timestamp").alias("last"), F.collect_set("merchant_id").alias("merchants"))
            table = f"{folder}/tiles"
            tiles.write.format("delta").partitionBy("ds").save(table)
            tiles.where("ds = DATE '2026-01-02'").write.format("delta").mode("overwrite") \
                .option("replaceWhere", "ds = DATE '2026-01-02'").save(table)
            old = spark.read.format("delta").option("versionAsOf", 0).load(table)
            snapshot = old.groupBy("user_id").agg(F.sum("n").alias("n"), F.sum("total").alias("total"),
                                                  F.size(F.array_distinct(F.flatten(F.collect_list("merchants"))))
                                                  .alias("distinct"))
            snapshot.join(source, "user_id").groupBy("ds").agg(F.count(F.lit(1)), F.avg("total")).collect()
            snapshot.agg(F.kll_sketch_agg_double(F.col("total").cast("double"), 1000)).collect()
            spark.sql(f"DESCRIBE HISTORY delta.`{table}`").collect()
        finally:
            spark.stop()
    except Exception as exc:  # a warm-up that fails leaves a working, colder engine
        logging.getLogger(__name__).warning("the engine's warm-up failed: %s", exc)
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return time.monotonic() - began


def stop(repo: Path) -> str | None:
    """Stop the repository's engine; what was stopped, or None when none ran."""
    from pitstop.stores.local_redis import stop_pid

    engine = load(repo)
    state_path(repo).unlink(missing_ok=True)
    if engine is None or not _pid_alive(engine.pid):
        return None
    try:
        cmdline = Path(f"/proc/{engine.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        cmdline = SERVER_CLASS
    if SERVER_CLASS not in cmdline:  # a stale state file naming an unrelated process: never signal it
        return None
    stop_pid(engine.pid, timeout_s=30.0)
    return f"stopped the Spark Connect engine at {engine.url} (pid {engine.pid})"


def status(config: Config) -> str:
    """One line: whether the repository's engine runs, and whether sessions for it use the engine."""
    engine = load(config.repo)
    used = remote_for(config)
    if engine is None or not engine.alive():
        where = f"; sessions use {used}" if used else "; sessions start in-process (cold)"
        return f"no engine runs for {config.repo}{where}"
    if used == engine.url:
        return (f"engine at {engine.url} (pid {engine.pid}, master {engine.master}, up "
                f"{time.time() - engine.started:.0f} s); sessions use it")
    reason = (f"{ENV_ENGINE} is set" if os.environ.get(ENV_ENGINE) else
              "pitstop.yaml's start-up Spark settings changed since it started: `pitstop engine start` restarts it")
    return f"engine at {engine.url} (pid {engine.pid}) is not used: {reason}; sessions use {used or 'in-process'}"


def session_for(config: Config, app_name: str = "pitstop") -> SparkSession:
    """The session for a feature repository: over Spark Connect when an engine is chosen or running (see
    ``pitstop.stores.engine``), else started in-process."""
    from pitstop.stores.spark import build_session_conf, config_conf

    remote = remote_for(config)
    if remote is not None:
        return connect_session(remote, config_conf(config))
    return build_session_conf(config.spark_master, config_conf(config), app_name)


def connect_session(url: str, settings: dict[str, str]) -> SparkSession:
    """A Spark Connect session to ``url`` with the session settings of ``settings`` (the start-up ones, such as
    the master and the jars, are the server's). SetupError naming the endpoint when it does not answer."""
    from pyspark.sql import SparkSession

    from pitstop.stores.spark import quiet_query_context_loggers

    if not endpoint_answers(url):  # the client would retry for minutes before giving up
        raise SetupError(f"the Spark Connect engine at {url} does not answer: start it (`pitstop engine start`, "
                         f"or the cluster's Connect server), or set PITSTOP_ENGINE=local to start Spark in-process")
    try:
        session = SparkSession.builder.remote(url).create()
        for key, value in sorted(settings.items()):
            if not is_static(key):
                session.conf.set(key, value)
    except Exception as exc:
        if type(exc).__name__ in ("SparkConnectGrpcException", "RetriesExceeded") or "UNAVAILABLE" in str(exc):
            raise SetupError(f"the Spark Connect engine at {url} does not answer ({type(exc).__name__}): start it "
                             f"(`pitstop engine start`), or set PITSTOP_ENGINE=local to start Spark in-process"
                             ) from None
        raise
    quiet_query_context_loggers()
    return session
