"""How pitstop talks to Redis, whichever client sends the commands: the pooled redis-py client
(``redis_client``) and the one-shot socket client (``redis_lite``) both follow these numbers."""

from __future__ import annotations

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
RETRIES = 3  # on a dropped connection or a timeout; every command pitstop sends is safe to repeat
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.01, 1.0  # exponential with jitter: ~10 ms, 20 ms, 40 ms
