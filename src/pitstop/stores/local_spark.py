"""A Spark standalone cluster on loopback, from the installed pyspark distribution (no Docker).

One master and N workers, each a separate JVM (``spark-class org.apache.spark.deploy.master.Master`` /
``...worker.Worker``) with its own work and log directory, on free loopback ports; stopped by pid.
It is how the cluster test proves that jobs run distributed, and how to try ``spark.master:
spark://...`` on one machine::

    python -m pitstop.stores.local_spark start --dir .pitstop/spark   # prints the master URL
    PITSTOP_SPARK_MASTER=spark://127.0.0.1:PORT pitstop materialize ...
    python -m pitstop.stores.local_spark stop --dir .pitstop/spark
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pitstop.errors import PitstopError, SetupError, exit_code_for
from pitstop.jsontypes import JSONObject
from pitstop.stores.local_redis import free_port, stop_pid

STATE_FILE = "cluster.json"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class SparkCluster:
    master_url: str
    ui_port: int
    workdir: Path
    pids: dict[str, int] = field(default_factory=dict)  # "master", "worker-0", ...

    def status(self, timeout_s: float = 5.0) -> JSONObject:
        """The master's JSON status page: workers, running and completed applications."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=timeout_s) as response:
            data: JSONObject = json.loads(response.read())
        return data

    def worker_dirs(self) -> list[Path]:
        return sorted(self.workdir.glob("worker-*/work"))

    def stop(self) -> None:
        for name in sorted(self.pids, reverse=True):  # workers before the master
            stop_pid(self.pids[name])

    def save(self) -> None:
        state = {**asdict(self), "workdir": str(self.workdir)}
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, workdir: Path) -> SparkCluster:
        state = json.loads((workdir / STATE_FILE).read_text())
        return cls(state["master_url"], state["ui_port"], Path(state["workdir"]), state["pids"])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(args: list[str], folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "out.log").open("wb")
    return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True)


def start_cluster(workdir: Path, *, workers: int = 2, cores: int = 1, memory: str = "1536m",
                  timeout_s: float = 90.0) -> SparkCluster:
    """Start a master and ``workers`` workers (each ``cores`` cores, ``memory`` for executors) on loopback;
    returns once every worker is registered ALIVE with the master. SetupError, with the log tail of the
    process that failed, when one exits or the cluster is not up within ``timeout_s``: never a hang."""
    from pitstop.stores.spark import check_java

    check_java()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port, ui_port = free_port(), free_port()
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    master_url = f"spark://127.0.0.1:{port}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    cluster = SparkCluster(master_url, ui_port, workdir)
    try:
        procs["master"] = _spawn(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                                  str(port), "--webui-port", str(ui_port)], workdir / "master", env)
        cluster.pids["master"] = procs["master"].pid
        for i in range(workers):
            folder = workdir / f"worker-{i}"
            (folder / "work").mkdir(parents=True, exist_ok=True)
            procs[f"worker-{i}"] = _spawn(
                ["org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1", "--cores", str(cores),
                 "--memory", memory, "--work-dir", str(folder / "work"), "--webui-port", str(free_port())],
                folder, env)
            cluster.pids[f"worker-{i}"] = procs[f"worker-{i}"].pid
        deadline = time.monotonic() + timeout_s
        while True:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise SetupError(f"the Spark {name} exited with code {proc.returncode} while the cluster "
                                     f"started; its log ({workdir / name / 'out.log'}) ends:\n"
                                     f"{_tail(workdir / name / 'out.log')}")
            try:
                alive = [w for w in cluster.status(timeout_s=2).get("workers", []) if w.get("state") == "ALIVE"]
            except OSError:
                alive = []
            if len(alive) >= workers:
                break
            if time.monotonic() > deadline:
                raise SetupError(f"the Spark standalone cluster at {master_url} has {len(alive)} of {workers} "
                                 f"workers alive after {timeout_s:.0f}s; the master's log ends:\n"
                                 f"{_tail(workdir / 'master' / 'out.log')}")
            time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise
    cluster.save()
    return cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pitstop.stores.local_spark",
                                     description="a Spark standalone cluster on loopback (master + workers)")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--dir", default=".pitstop/spark", help="work and log directories (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="1536m", help="executor memory per worker")
    args = parser.parse_args(argv)
    workdir = Path(args.dir)
    try:
        if args.action == "start":
            cluster = start_cluster(workdir, workers=args.workers, cores=args.cores, memory=args.memory)
            print(f"{cluster.master_url} (UI http://127.0.0.1:{cluster.ui_port}, pids {cluster.pids}); "
                  f"stop it with `python -m pitstop.stores.local_spark stop --dir {args.dir}`")
        elif not (workdir / STATE_FILE).is_file():
            print(f"no cluster started from {workdir}", file=sys.stderr)
            return 1
        elif args.action == "stop":
            SparkCluster.load(workdir).stop()
            (workdir / STATE_FILE).unlink()
            print("stopped")
        else:
            cluster = SparkCluster.load(workdir)
            status = cluster.status()
            print(f"{cluster.master_url}: {len(status.get('workers', []))} worker(s), "
                  f"{len(status.get('activeapps', []))} running and {len(status.get('completedapps', []))} "
                  f"completed application(s)")
    except (PitstopError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
