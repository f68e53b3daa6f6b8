"""Private redis-server instances on loopback, for `make setup` and for tests.

``python -m pitstop.stores.local_redis ensure`` makes the configured online store reachable: if the
URL answers, nothing happens; if it is a loopback URL, a private redis-server is started on its port
with its files under ``<repo>/.pitstop/redis-<port>/`` (stopped with ``stop``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pitstop.errors import ConnectionFailed, PitstopError, SetupError, exit_code_for

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    exe = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                           else None)
    if exe is None:
        raise SetupError("redis-server is not installed: run `make setup` (it installs Debian's redis-server), "
                         "or `sudo apt-get install redis-server`, or point PITSTOP_ONLINE_STORE_URL at a "
                         "running Redis")
    return exe


@dataclass
class RedisProcess:
    port: int
    workdir: Path
    pid: int
    bus_port: int | None = None  # a cluster node's bus port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_pid(self.pid)


def stop_pid(pid: int, timeout_s: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _wait_ready(port: int, pid_check: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid_check is not None and pid_check.poll() not in (None, 0):
            raise SetupError(f"redis-server on port {port} exited with code {pid_check.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SetupError(f"redis-server on 127.0.0.1:{port} did not answer PING within {timeout_s:.0f}s")


def start_redis(port: int, workdir: Path, *, daemonize: bool = False, timeout_s: float = 10.0,
                cluster: bool = False) -> RedisProcess:
    """Start redis-server on 127.0.0.1:port, no persistence; its files live in ``workdir``. With
    ``cluster`` it starts as a Redis Cluster node (joined by ``start_redis_cluster``)."""
    exe = redis_server_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    pidfile = workdir / "redis.pid"
    bus_port = None
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--logfile", str(workdir / "redis.log"), "--pidfile", str(pidfile)]
    if cluster:
        # the cluster bus gets its own free port (the default, port + 10000, may be taken or past 65535)
        bus_port = free_port()
        args += ["--cluster-enabled", "yes", "--cluster-config-file", str(workdir / "nodes.conf"),
                 "--cluster-port", str(bus_port)]
    if daemonize:
        subprocess.run([*args, "--daemonize", "yes"], check=True)
        _wait_ready(port, None, timeout_s)
        pid = int(pidfile.read_text().strip())
    else:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_ready(port, proc, timeout_s)
        pid = proc.pid
    return RedisProcess(port, workdir, pid, bus_port if cluster else None)


@dataclass
class RedisCluster:
    nodes: list[RedisProcess]

    @property
    def url(self) -> str:
        """An online_store.url for the cluster: any node, with the +cluster scheme."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_redis_cluster(workdir: Path, nodes: int = 3, timeout_s: float = 30.0) -> RedisCluster:
    """A Redis Cluster of ``nodes`` primaries on free loopback ports (no replicas), the 16,384 slots split
    evenly (CLUSTER ADDSLOTSRANGE, then CLUSTER MEET); returns once every node reports the cluster ok."""
    import redis

    started: list[RedisProcess] = []
    try:
        for i in range(nodes):
            started.append(start_redis(free_port(), workdir / f"node-{i}", cluster=True))
        clients: list[Any] = [redis.Redis(host="127.0.0.1", port=n.port) for n in started]
        for i, client in enumerate(clients):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 16384 * i // nodes, 16384 * (i + 1) // nodes - 1)
        for node in started[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)
        deadline = time.monotonic() + timeout_s
        for node, client in zip(started, clients, strict=True):
            while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO", NEVER_DECODE=True):
                if time.monotonic() > deadline:
                    raise SetupError(f"Redis Cluster node 127.0.0.1:{node.port} is not ok after {timeout_s:.0f}s")
                time.sleep(0.1)
            client.close()
    except BaseException:
        for node in started:
            node.stop()
        raise
    return RedisCluster(started)


def ensure(repo: Path, url: str, url_from_env: bool) -> str:
    from pitstop.config import redact_url
    from pitstop.stores.redis_client import ping

    try:
        version = ping(url)
        return f"Redis {version} reachable at {redact_url(url)}"
    except ConnectionFailed:
        parts = urlsplit(url)
        if url_from_env or parts.hostname not in LOOPBACK or parts.scheme != "redis":
            raise
    port = parts.port or 6379
    proc = start_redis(port, repo / ".pitstop" / f"redis-{port}", daemonize=True)
    return f"started a private redis-server (pid {proc.pid}) at {redact_url(url)}; stop it with `make stop`"


def _is_our_redis(pid: int, workdir: Path) -> bool:
    """True only for a live redis-server process started with this work directory (a stale pid file
    after a reboot may name an unrelated process, which must never be signalled)."""
    # redis-server rewrites its process title, but it runs with --dir as its working directory
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return "redis-server" in cmdline and cwd == workdir.resolve()


def stop(repo: Path) -> list[str]:
    stopped = []
    for pidfile in sorted((repo / ".pitstop").glob("redis-*/redis.pid")):
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _is_our_redis(pid, pidfile.parent):
            stop_pid(pid)
            stopped.append(f"stopped redis-server pid {pid} ({pidfile.parent.name})")
        pidfile.unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    from pitstop.config import ENV_ONLINE, load_config

    parser = argparse.ArgumentParser(prog="python -m pitstop.stores.local_redis")
    parser.add_argument("action", choices=["ensure", "stop"])
    parser.add_argument("--repo", default=".")
    args = parser.parse_args(argv)
    try:
        config = load_config(Path(args.repo))
        if args.action == "ensure":
            print(ensure(config.repo, config.online_store_url, bool(os.environ.get(ENV_ONLINE))))
        else:
            print("\n".join(stop(config.repo)) or "no private redis-server running")
    except PitstopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
