"""A real redis-server: reachability, credentials, and the setup's private instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pitstop.errors import ConfigError, ConnectionFailed
from pitstop.stores import local_redis
from pitstop.stores.redis_client import ping

pytestmark = pytest.mark.redis


def test_ping_real_server(redis_url: str) -> None:
    assert int(ping(redis_url).split(".")[0]) >= 6


def test_unreachable_server_is_transient_and_hides_the_password() -> None:
    port = local_redis.free_port()
    with pytest.raises(ConnectionFailed) as err:
        ping(f"redis://user:hunter2@127.0.0.1:{port}/0")
    assert err.value.transient
    assert "hunter2" not in str(err.value)
    assert f"cannot reach Redis at redis://user:***@127.0.0.1:{port}/0" in str(err.value)


def test_wrong_password_is_a_config_error(tmp_path: Path) -> None:
    proc = local_redis.start_redis(local_redis.free_port(), tmp_path / "auth")
    try:
        import redis

        redis.Redis(port=proc.port).config_set("requirepass", "right")
        with pytest.raises(ConfigError) as err:
            ping(f"redis://:wrong@127.0.0.1:{proc.port}/0")
        assert "wrong" not in str(err.value).replace("refused the credentials", "")
        assert "refused the credentials" in str(err.value)
        assert ping(f"redis://:right@127.0.0.1:{proc.port}/0")
    finally:
        proc.stop()


def test_ensure_starts_a_private_server_once_and_stop_stops_it(tmp_path: Path, redis_server: Any) -> None:
    port = local_redis.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    message = local_redis.ensure(tmp_path, url, url_from_env=False)
    assert message.startswith("started a private redis-server")
    assert ping(url)
    assert local_redis.ensure(tmp_path, url, url_from_env=False).startswith("Redis ")  # already up: no-op
    assert local_redis.stop(tmp_path)[0].startswith("stopped redis-server pid")
    with pytest.raises(ConnectionFailed):
        ping(url)
    # a URL from the environment that does not answer is the user's server: never replaced
    with pytest.raises(ConnectionFailed):
        local_redis.ensure(tmp_path, url, url_from_env=True)


def test_stop_never_signals_a_process_that_is_not_our_redis(tmp_path: Path) -> None:
    import subprocess

    other = subprocess.Popen(["sleep", "30"])
    try:
        pidfile = tmp_path / ".pitstop" / "redis-6379" / "redis.pid"
        pidfile.parent.mkdir(parents=True)
        pidfile.write_text(f"{other.pid}\n")
        assert local_redis.stop(tmp_path) == []
        assert other.poll() is None  # still running
        assert not pidfile.exists()
    finally:
        other.kill()
        other.wait()
