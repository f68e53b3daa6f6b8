"""Connections to the Redis online store: timeouts, pooling, and errors that never show a password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pitstop.config import redact_url
from pitstop.errors import ConfigError, ConnectionFailed
from pitstop.stores.redis_policy import BACKOFF_BASE_S, BACKOFF_CAP_S, CONNECT_TIMEOUT_S, RETRIES, SOCKET_TIMEOUT_S

if TYPE_CHECKING:
    import redis
    from redis.cluster import RedisCluster

    Client = redis.Redis | RedisCluster


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def connect(url: str) -> Client:
    """A pooled client for ``url`` (redis://, rediss:// for TLS, unix://); nothing is sent yet. For
    redis+cluster:// or rediss+cluster://, a Redis Cluster client that asks that node for the slot map
    now (ConnectionFailed if it cannot). Commands are retried RETRIES times with exponential backoff
    when the connection drops or times out: reads, HSETs into a generation and the switch script are all
    idempotent (a switch retried after its reply was lost finds its own generation current and reports
    it switched)."""
    import redis
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry

    retry = Retry(ExponentialWithJitterBackoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S), RETRIES)
    try:
        if is_cluster(url):
            from redis.cluster import RedisCluster

            try:
                return RedisCluster.from_url(url.replace("+cluster", "", 1), retry=retry,
                                             socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S)
            except (redis.RedisError, OSError) as exc:
                raise ConnectionFailed(f"cannot reach the Redis Cluster at {redact_url(url)}: {type(exc).__name__}: "
                                       f"{str(exc).replace(url, redact_url(url))}") from exc
        return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                    socket_timeout=SOCKET_TIMEOUT_S, health_check_interval=30, retry=retry)
    except ValueError as exc:
        raise ConfigError(f"online_store.url {redact_url(url)!r} is not a valid Redis URL: "
                          f"{str(exc).replace(url, redact_url(url))}") from exc


def ping(url: str) -> str:
    """Check the server answers; returns its version. ConnectionFailed (transient) when it does not."""
    import redis

    client = connect(url)
    try:
        client.ping()
        info = client.info("server")
    except redis.AuthenticationError as exc:
        raise ConfigError(f"Redis at {redact_url(url)} refused the credentials ({type(exc).__name__}); set the "
                          f"password in the URL or PITSTOP_ONLINE_STORE_PASSWORD") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise ConnectionFailed(f"cannot reach Redis at {redact_url(url)}: {type(exc).__name__}: "
                               f"{str(exc).replace(url, redact_url(url))}. Start it (`make setup` starts a "
                               f"private one for a loopback URL) or fix online_store.url") from exc
    finally:
        client.close()
    return str(info.get("redis_version", "?"))


def is_connection_error(exc: BaseException) -> bool:
    """A refused, dropped or timed-out connection (or refused credentials), from redis-py or from the one-shot
    client (``redis_lite``): transient for the caller."""
    from pitstop.stores.redis_lite import LiteFailure

    if isinstance(exc, LiteFailure):
        return True
    import redis  # only on this error path: importing redis-py takes about half a second

    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)


def error_name(exc: BaseException) -> str:
    """The failure's name as redis-py gives it (ConnectionError, TimeoutError, AuthenticationError, ...)."""
    from pitstop.stores.redis_lite import LiteFailure

    return exc.kind if isinstance(exc, LiteFailure) else type(exc).__name__
