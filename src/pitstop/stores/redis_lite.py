"""A small synchronous Redis client for one-shot reads (`pitstop get`), on a plain socket.

``import redis`` takes about half a second (redis-py imports its asyncio client and OpenTelemetry with it),
longer than the whole read. A command-line read of a ``redis://`` or ``unix://`` URL without options therefore
speaks RESP2 itself: one connection, AUTH and SELECT as the URL says, the same timeouts and retries as the
pooled client (``redis_policy``), EVALSHA of the read script with SCRIPT LOAD on NOSCRIPT, pipelined. Every
other URL (TLS, Redis Cluster, URL options) and every other use (publishing, the HTTP server) go through
redis-py.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from pitstop.stores.redis_policy import BACKOFF_BASE_S, BACKOFF_CAP_S, CONNECT_TIMEOUT_S, RETRIES, SOCKET_TIMEOUT_S

Reply = bytes | int | list[Any] | None


class LiteFailure(Exception):
    """The connection failed: ``kind`` is the name redis-py gives the same failure (ConnectionError,
    TimeoutError, AuthenticationError), so messages read the same whichever client met it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ReplyError(Exception):
    """Redis answered a command with an error (redis-py's ResponseError)."""


_NO_RETRY = ("AuthenticationError",)


def _failure(reply: ReplyError) -> LiteFailure | None:
    """The error replies redis-py raises as connection failures, under redis-py's class names."""
    text = str(reply)
    code, _, rest = text.partition(" ")
    if code in ("NOAUTH", "WRONGPASS") or (code == "ERR" and (
            rest == "invalid password" or rest.startswith(("AUTH <password> called without",
                                                           "Client sent AUTH, but no password")))):
        return LiteFailure("AuthenticationError", rest)
    if code == "LOADING":
        return LiteFailure("BusyLoadingError", rest)
    if code == "ERR" and rest == "max number of clients reached":
        return LiteFailure("ConnectionError", rest)
    return None


class LiteClient:
    """One connection to one Redis server; connects on first use, reconnects and retries on failure."""

    def __init__(self, address: tuple[str, int] | str, db: int, username: str | None, password: str | None) -> None:
        self.address, self.db, self.username, self.password = address, db, username, password
        self._sock: socket.socket | None = None
        self._buffer = b""

    # ---------------------------------------------------------------- connection

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(CONNECT_TIMEOUT_S)
                sock.connect(self.address)
            else:
                sock = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT_S)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError as exc:
            raise LiteFailure("TimeoutError", f"Timeout connecting to server: {exc}") from exc
        except OSError as exc:
            raise LiteFailure("ConnectionError", f"Error connecting to {self._where()}: {exc}") from exc
        sock.settimeout(SOCKET_TIMEOUT_S)
        self._sock, self._buffer = sock, b""
        try:
            setup: list[list[Any]] = []
            if self.password:
                setup.append(["AUTH", self.password] if self.username is None else
                             ["AUTH", self.username, self.password])
            if self.db:
                setup.append(["SELECT", self.db])
            for reply in self._exchange(setup):
                if isinstance(reply, ReplyError):
                    raise _failure(reply) or reply
        except BaseException:
            self.close()
            raise
        return sock

    def _where(self) -> str:
        return self.address if isinstance(self.address, str) else f"{self.address[0]}:{self.address[1]}"

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock, self._buffer = None, b""

    # ---------------------------------------------------------------- protocol

    @staticmethod
    def _pack(args: Sequence[Any]) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    def _read_line(self) -> bytes:
        assert self._sock is not None
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 2:]
                return line
            self._fill()

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size + 2:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size + 2:]
        return data

    def _fill(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError as exc:
            raise LiteFailure("TimeoutError", "Timeout reading from socket") from exc
        except OSError as exc:
            raise LiteFailure("ConnectionError", f"Error while reading from {self._where()}: {exc}") from exc
        if not chunk:
            raise LiteFailure("ConnectionError", "Connection closed by server.")
        self._buffer += chunk

    def _read_reply(self) -> Reply | ReplyError:
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._read_exact(size)
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._read_reply() for _ in range(count)]
        raise LiteFailure("ConnectionError", f"Protocol error: unexpected reply {line[:40]!r}")

    def _exchange(self, commands: list[list[Any]]) -> list[Reply | ReplyError]:
        """Send the commands in one write and read one reply each (errors returned, not raised)."""
        if not commands:
            return []
        sock = self._sock
        assert sock is not None
        try:
            sock.sendall(b"".join(self._pack(c) for c in commands))
        except TimeoutError as exc:
            raise LiteFailure("TimeoutError", "Timeout writing to socket") from exc
        except OSError as exc:
            raise LiteFailure("ConnectionError", f"Error while writing to {self._where()}: {exc}") from exc
        return [self._read_reply() for _ in commands]

    def execute(self, commands: list[list[Any]]) -> list[Reply | ReplyError]:
        """Pipelined commands, retried RETRIES times with exponential backoff and jitter on a failed connection
        (every command sent through this client is a read, safe to repeat)."""
        failures = 0
        while True:
            try:
                self._connect()
                replies = self._exchange(commands)
                for reply in replies:
                    failure = _failure(reply) if isinstance(reply, ReplyError) else None
                    if failure is not None:
                        raise failure
                return replies
            except LiteFailure as exc:
                self.close()
                if exc.kind in _NO_RETRY or failures >= RETRIES:
                    raise
                failures += 1
                time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** failures)))
            except BaseException:
                self.close()  # a reply left half read: the connection cannot be used again
                raise

    # ---------------------------------------------------------------- commands

    def hmget(self, key: str, fields: Sequence[str]) -> list[Any]:
        reply = self.execute([["HMGET", key, *fields]])[0]
        if isinstance(reply, ReplyError):
            raise reply
        assert isinstance(reply, list)
        return reply

    def evalsha_all(self, script: str, sha: str, calls: list[list[Any]]) -> list[Any]:
        """EVALSHA ``sha`` once per call (numkeys, keys and args), pipelined; on NOSCRIPT (a new or restarted
        server) SCRIPT LOAD the script and send them again."""
        commands = [["EVALSHA", sha, *call] for call in calls]
        replies = self.execute(commands)
        if any(isinstance(r, ReplyError) and str(r).startswith("NOSCRIPT") for r in replies):
            loaded = self.execute([["SCRIPT", "LOAD", script]])[0]
            if isinstance(loaded, ReplyError):
                raise loaded
            replies = self.execute(commands)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies


def connect_lite(url: str) -> LiteClient | None:
    """A one-shot client for a plain ``redis://`` or ``unix://`` URL without options (``?db=N`` aside); None
    for any other URL, which needs redis-py (TLS, Cluster, options)."""
    try:
        parts = urlsplit(url)
        query = [q for q in parts.query.split("&") if q]
        if parts.scheme not in ("redis", "unix") or parts.fragment or any(not q.startswith("db=") for q in query):
            return None
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        db_text = query[-1][3:] if query else (parts.path.lstrip("/") if parts.scheme == "redis" else "")
        db = int(db_text) if db_text else 0
        if parts.scheme == "unix":
            if not parts.path:
                return None
            return LiteClient(unquote(parts.path), db, username, password)
        return LiteClient((parts.hostname or "localhost", parts.port or 6379), db, username, password)
    except ValueError:
        return None  # redis-py says what is wrong with the URL
