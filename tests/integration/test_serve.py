"""`pitstop serve` against hostile clients: a real server process over a real redis-server holding views
published from a real Spark session, sent oversized, deep, ill-typed and malformed requests by hand and by
hypothesis. Every answer is JSON, every status is counted in /metrics, and nothing a client sends gets a 500."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pitstop import FeatureStore
from pitstop.runtime import registry
from pitstop.stores import local_redis

pytestmark = [pytest.mark.spark, pytest.mark.redis]

D0 = date(2026, 3, 1)
URL = "/get-online-features"
MIB = 1 << 20
INT64_RANGE = "[-9223372036854775808, 9223372036854775807]"
LIMIT_HINT = "(serve.max_body_bytes in pitstop.yaml, or pitstop serve --max-body-bytes); split the request"
FIELDS = "the fields are features, entities, entity_rows, full_feature_names"
DEFS = """
from pitstop import Aggregation, BatchSource, Entity, FeatureView
user = Entity("user", join_keys=["user_id"])
shop_entity = Entity("shop", join_keys=["merchant"])
events = BatchSource("events", path="data/events")
spend = FeatureView("spend", entities=[user], source=events, aggregations=[
    Aggregation("count", windows=["1d"]),
    Aggregation("sum", column="amount", windows=["1d"]),
    Aggregation("last", column="merchant", windows=["1d"]),
])
shop = FeatureView("shop", entities=[shop_entity], source=events, aggregations=[Aggregation("count", windows=["1d"])])
"""


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


EVENTS = [(1, "café ☕", 2.5, at(D0, 1)), (1, "café ☕", 1.0, at(D0, 2)), (2, "kiosk", 4.0, at(D0, 3)),
          (3, "kiosk", 1.0, at(D0 + timedelta(days=1), 1))]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[tuple[str, int], int]:
        """pitstop_requests_total from /metrics, by (path, status)."""
        import httpx

        text = httpx.get(f"{self.base}/metrics", timeout=10).text
        return {(m[1], int(m[2])): int(m[3]) for m in
                re.finditer(r'^pitstop_requests_total\{path="([^"]*)",status="(\d+)"\} (\d+)$', text, re.M)}

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"^VmHWM:\s+(\d+) kB$", status, re.M).group(1))  # type: ignore[union-attr]


def start_servers(repo: Path, tmp: Path, *argvs: list[str]) -> list[Server]:
    """`pitstop serve` processes (one per argument list), each waited for until /health answers."""
    import httpx

    servers = []
    for i, argv in enumerate(argvs):
        port = local_redis.free_port()
        log = tmp / f"serve-{port}-{i}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "pitstop.cli", "--repo", str(repo), "serve", "--port",
                                     str(port), *argv], stdout=out, stderr=subprocess.STDOUT)
        servers.append(Server(proc, port, log))
    deadline = time.monotonic() + 90
    for server in servers:
        while True:
            try:
                if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.proc.poll() is None and time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
    return servers


def stop(server: Server) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[Path]:
    """A feature repository whose spend (int64 key) and shop (string key) views are published for D0 into
    a private redis-server."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = tmp_path_factory.mktemp("serve")
    redis = local_redis.start_redis(local_redis.free_port(), tmp / "redis")
    try:
        root = tmp / "repo"
        (root / "feature_defs").mkdir(parents=True)
        (root / "data" / "events").mkdir(parents=True)
        (root / "pitstop.yaml").write_text(f"project: t\noffline_store:\n  path: {tmp / 'delta'}\n"
                                           f"online_store:\n  url: {redis.url}\n")
        (root / "feature_defs" / "defs.py").write_text(textwrap.dedent(DEFS))
        columns = list(zip(*EVENTS, strict=True))
        pq.write_table(pa.table({"user_id": pa.array(columns[0], pa.int64()),
                                 "merchant": pa.array(columns[1], pa.string()),
                                 "amount": pa.array(columns[2], pa.float64()),
                                 "event_timestamp": pa.array(columns[3], pa.timestamp("us", tz="UTC"))}),
                       root / "data" / "events" / "part-00000.parquet")
        store = FeatureStore(root, env={})
        registry.apply(store.config)
        store.use_spark(spark)
        store.materialize(["spend", "shop"], D0, D0)
        yield root
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def server(repo: Path) -> Iterator[Server]:
    """`pitstop serve` with the default body limit (1 MiB)."""
    [one] = start_servers(repo, repo.parent, [])
    yield one
    stop(one)


def post(server: Server, body: Any = None, *, content: bytes | None = None) -> Any:
    import httpx

    return httpx.post(f"{server.base}{URL}", content=json.dumps(body).encode() if content is None else content,
                      headers={"content-type": "application/json"}, timeout=30)


def error(response: Any, status: int) -> str:
    """The error message of a JSON error answer with this status."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert list(payload) == ["error"] and isinstance(payload["error"], str)
    assert "Traceback" not in response.text
    return str(payload["error"])


def test_reads_still_answer_with_both_key_types(server: Server) -> None:
    ok = post(server, {"features": ["spend:count_1d", "spend:amount_sum_1d", "spend:merchant_last_1d"],
                       "entities": {"user_id": [1, 2, 9, 2**63 - 1, -(2**63)]}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["features"] == {"user_id": [1, 2, 9, 2**63 - 1, -(2**63)], "count_1d": [2, 1, 0, 0, 0],
                                     "amount_sum_1d": [3.5, 4.0, 0.0, 0.0, 0.0],
                                     "merchant_last_1d": ["café ☕", "kiosk", None, None, None]}
    shop = post(server, {"features": ["shop:count_1d"], "entity_rows": [{"merchant": "café ☕"}, {"merchant": "x"}],
                         "full_feature_names": True})
    assert shop.json()["features"] == {"merchant": ["café ☕", "x"], "shop__count_1d": [2, 0]}


def test_deep_nesting_is_a_400(server: Server) -> None:
    too_deep = ("the request body nests arrays or objects too deeply to parse; a request is three levels deep at "
                "most, e.g. {\"entities\": {\"user_id\": [1]}}")
    assert error(post(server, content=b"[" * 100_000), 400) == too_deep
    assert error(post(server, content=b'{"features": ["spend:count_1d"], "entities": {"user_id": '
                                      + b"[" * 100_000 + b"1" + b"]" * 100_000 + b"}}"), 400) == too_deep
    nested = post(server, content=b'{"features": ["spend:count_1d"], "entities": {"user_id": ['
                                  + b"[" * 500 + b"1" + b"]" * 500 + b"]}}")
    assert error(nested, 400) == ("entity row 0: user_id=[[[...]]] (list) must be an int: the join key's type "
                                  "in the plan is int64")


def test_bodies_over_the_limit_are_refused_from_content_length_before_reading(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 209715200\r\n\r\n")  # 200 MB announced, not one byte of it sent
        answer = b""
        while chunk := conn.recv(65536):  # the server answers and closes without waiting for the body
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 413 Request Entity Too Large"
    assert {"connection: close", "content-type: application/json"} <= {line.lower() for line in lines[1:]}
    assert json.loads(body) == {"error": f"the request body is 209,715,200 bytes; the limit is 1,048,576 bytes "
                                         f"{LIMIT_HINT}"}
    sent = post(server, content=b" " * (200 * MIB))  # really sent: answered without being held in memory
    assert error(sent, 413).startswith("the request body is 209,715,200 bytes; the limit is 1,048,576 bytes")
    assert server.peak_rss_kib() < 150 * 1024


def test_streamed_bodies_are_refused_once_over_the_limit(server: Server) -> None:
    import httpx

    def chunks(total: int) -> Iterator[bytes]:
        body = json.dumps({"features": ["spend:count_1d"], "entities": {"user_id": [1]}}).encode()
        yield body
        for start in range(len(body), total, 65536):
            yield b" " * min(65536, total - start)

    def stream(total: int) -> Any:  # no Content-Length: a chunked body, counted as it arrives
        return httpx.post(f"{server.base}{URL}", content=chunks(total), timeout=30)

    assert error(stream(4 * MIB), 413) == f"the request body is over the limit of 1,048,576 bytes {LIMIT_HINT}"
    assert error(stream(MIB + 1), 413) == f"the request body is over the limit of 1,048,576 bytes {LIMIT_HINT}"
    at_limit = stream(MIB)
    assert at_limit.status_code == 200 and at_limit.json()["features"] == {"user_id": [1], "count_1d": [2]}
    assert post(server, content=b"".join(chunks(MIB))).status_code == 200  # with Content-Length too
    assert server.peak_rss_kib() < 150 * 1024


def test_join_keys_outside_their_type_are_a_400_naming_key_and_range(server: Server) -> None:
    ask = {"features": ["spend:count_1d"]}
    assert error(post(server, {**ask, "entities": {"user_id": [1, 99999999999999999999]}}), 400) == (
        f"entity row 1: user_id=99999999999999999999 is outside the range of the join key 'user_id', int64 in the "
        f"plan: {INT64_RANGE}")
    assert error(post(server, {**ask, "entity_rows": [{"user_id": -(2**63) - 1}]}), 400) == (
        f"entity row 0: user_id=-9223372036854775809 is outside the range of the join key 'user_id', int64 in "
        f"the plan: {INT64_RANGE}")
    huge = b'{"features": ["spend:count_1d"], "entities": {"user_id": [' + b"7" * 5000 + b"]}}"
    assert error(post(server, content=huge), 400) == (f"the request body has an integer of more than 4,300 "
                                                      f"digits; int64 join keys lie in {INT64_RANGE}")
    assert error(post(server, {"features": ["shop:count_1d"], "entities": {"merchant": ["ok", "bad \ud800"]}}),
                 400) == ("entity row 1: merchant='bad \\ud800' is not valid Unicode text (surrogates not allowed "
                          "at character 4)")
    assert error(post(server, {**ask, "entities": {"user_id": [1.0]}}), 400) == (
        "entity row 0: user_id=1.0 (float) must be an int: the join key's type in the plan is int64")


def test_unknown_fields_and_ambiguous_entities_are_a_400(server: Server) -> None:
    ask = {"features": ["spend:count_1d"], "entities": {"user_id": [1]}}
    assert error(post(server, {**ask, "fulll_feature_names": True}), 400) == (
        f"unknown field(s) in the request body: 'fulll_feature_names' (did you mean 'full_feature_names'?); "
        f"{FIELDS}")
    assert error(post(server, {**ask, "x": 1, "y": 2}), 400) == (
        f"unknown field(s) in the request body: 'x', 'y'; {FIELDS}")
    assert error(post(server, {**ask, "entity_rows": [{"user_id": 2}]}), 400) == (
        "give either 'entities' (columns: {\"user_id\": [1, 2]}) or 'entity_rows' (rows: [{\"user_id\": 1}, "
        "{\"user_id\": 2}]), not both")
    assert error(post(server, {**ask, "full_feature_names": "true"}), 400) == (
        "'full_feature_names' must be true or false, got a JSON string")
    assert error(post(server, content=b"\xff\xfe{}"), 400) == (
        "the request body is not UTF-8 text (byte 0: invalid start byte); send JSON encoded as UTF-8")
    assert error(post(server, content=b'{"features": ["spend:count_1d"], "entities": {"user_id": [NaN]}}'),
                 400) == "the request body is not valid JSON: NaN is not a JSON value (send a number or null)"


def test_other_routes_and_methods_answer_json(server: Server) -> None:
    import httpx

    missing = httpx.get(f"{server.base}/nope", timeout=10)
    assert error(missing, 404) == ("no route GET /nope; routes: POST /get-online-features, GET /health, "
                                   "GET /metrics")
    wrong = httpx.get(f"{server.base}{URL}", timeout=10)
    assert error(wrong, 405) == "GET is not allowed on /get-online-features; use POST"
    assert wrong.headers["allow"] == "POST"
    wrong = httpx.put(f"{server.base}/health", timeout=10)
    assert error(wrong, 405) == "PUT is not allowed on /health; use GET"
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_metrics_count_every_status_and_an_unexpected_error_is_a_logged_generic_500(repo: Path,
                                                                                      server: Server) -> None:
    import httpx
    import redis

    client = redis.Redis.from_url(FeatureStore(repo, env={}).config.online_store_url)
    generation = client.hget("pitstop:{t:spend__v1}:current", "gen")
    assert generation is not None
    data_key = f"pitstop:{{t:spend__v1}}:g{generation.decode()}"
    client.hset(data_key, "3:777", b"\xc1 not msgpack")  # a value pitstop never wrote: the server cannot decode it
    before = server.counts()
    try:
        broken = post(server, {"features": ["spend:count_1d"], "entities": {"user_id": [777]}})
        assert error(broken, 500) == "internal error: the server logged its cause"
    finally:
        client.hdel(data_key, "3:777")
    assert post(server, {"features": ["spend:count_1d"], "entities": {"user_id": [777]}}).status_code == 200
    error(post(server, {"features": ["spend:nope"], "entities": {"user_id": [1]}}), 400)
    error(post(server, content=b" " * (MIB + 1)), 413)
    error(httpx.get(f"{server.base}/nope/deeper", timeout=10), 404)
    error(httpx.delete(f"{server.base}{URL}", timeout=10), 405)
    after = server.counts()
    changed = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert changed == {(URL, 500): 1, (URL, 200): 1, (URL, 400): 1, (URL, 413): 1, ("other", 404): 1,
                       (URL, 405): 1, ("/metrics", 200): 1}
    logged = server.log.read_text()
    assert "unexpected error answering POST /get-online-features" in logged and "Traceback" in logged
    assert httpx.get(f"{server.base}/health", timeout=10).status_code == 200  # the server carries on


def test_the_limit_comes_from_pitstop_yaml_or_the_command_line(repo: Path) -> None:
    import httpx

    config = repo / "pitstop.yaml"
    original = config.read_text()
    config.write_text(original + "serve:\n  max_body_bytes: 300\n")
    try:
        from_yaml, from_cli = start_servers(repo, repo.parent, [], ["--max-body-bytes", "200"])
    finally:
        config.write_text(original)
    try:
        body = json.dumps({"features": ["spend:count_1d"], "entities": {"user_id": [1]}}).encode()
        for server, limit in ((from_yaml, 300), (from_cli, 200)):
            assert httpx.post(f"{server.base}{URL}", content=body.ljust(limit), timeout=10).status_code == 200
            assert error(httpx.post(f"{server.base}{URL}", content=body.ljust(limit + 1), timeout=10), 413) == (
                f"the request body is {limit + 1:,} bytes; the limit is {limit:,} bytes {LIMIT_HINT}")
    finally:
        stop(from_yaml)
        stop(from_cli)


def test_hostile_json_never_gets_a_500(server: Server) -> None:
    """Random and hostile bodies (any JSON, near-miss requests, huge and boundary ints, wrong types, unicode
    with lone surrogates, invalid UTF-8, garbage bytes, deep nesting): always 200, 400 or 413, always JSON."""
    import httpx
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**62, max_value=2**70),
                        st.integers(min_value=-(2**70), max_value=-(2**62)), st.floats(), st.text())
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
    refs = st.sampled_from(["spend:count_1d", "spend:amount_sum_1d", "spend:merchant_last_1d", "shop:count_1d",
                            "spend:nope", "nope:count_1d", "spend", ":", ""]) | st.text(max_size=16)
    keys = st.sampled_from(["user_id", "merchant"]) | st.text(max_size=8)
    key_values = st.one_of(st.integers(min_value=-(2**63) - 3, max_value=-(2**63) + 3),
                           st.integers(min_value=2**63 - 3, max_value=2**63 + 3),
                           st.integers(min_value=-5, max_value=5),
                           st.sampled_from(["café ☕", "kiosk", "\ud800", "a\x00b", "\U0010ffff"]), st.text(), values)
    fields = {"features": st.lists(refs, max_size=4) | values,
              "entities": st.dictionaries(keys, st.lists(key_values, max_size=4), max_size=3) | values,
              "entity_rows": st.lists(st.dictionaries(keys, key_values, max_size=3), max_size=4) | values,
              "full_feature_names": st.booleans() | values}
    requests = st.builds(lambda known, extra: {**known, **extra}, st.fixed_dictionaries({}, optional=fields),
                         st.just({}) | st.dictionaries(st.text(max_size=20), values, max_size=2))
    spend = st.lists(st.sampled_from(["spend:count_1d", "spend:amount_sum_1d", "spend:merchant_last_1d"]),
                     min_size=1, max_size=3)
    near_misses = st.one_of(  # the right shape, so that values and keys reach the reader
        st.fixed_dictionaries({"features": spend, "entities": st.fixed_dictionaries({"user_id": st.lists(
            st.integers(min_value=-(2**63), max_value=2**63 - 1) | key_values, max_size=5)})},
            optional={"full_feature_names": st.booleans()}),
        st.fixed_dictionaries({"features": st.just(["spend:count_1d", "shop:count_1d"]) | spend,
                               "entity_rows": st.lists(st.fixed_dictionaries({"user_id": key_values},
                                                                             optional={"merchant": key_values}),
                                                       max_size=4),
                               "full_feature_names": st.just(True)}))
    shaped = b'{"features": ["spend:count_1d"], "entities": {"user_id": [%s]}}'
    bodies = st.one_of(
        near_misses.map(lambda r: json.dumps(r).encode()),
        requests.map(lambda r: json.dumps(r).encode()),
        requests.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        values.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(lambda n, opener: opener * n, st.integers(1, 120_000),
                  st.sampled_from([b"[", b'{"a":', b'{"entity_rows":[', b"[{\"user_id\":"])),
        st.integers(1, 3000).map(lambda n: shaped % (b"[" * n + b"1" + b"]" * n)),
        st.integers(1, 12_000).map(lambda n: shaped % (b"9" * n)),
        st.sampled_from([shaped % b"NaN", shaped % b"-Infinity", shaped % b"1e999", shaped % b"1.0",
                         shaped % b"true", shaped % b"\"1\"", b"", b"null", b"{}", b"[]", b"\"\"", b"0"]))
    seen: dict[int, int] = {}

    with httpx.Client(base_url=server.base, timeout=30) as client:
        @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
        @given(bodies)
        @example(shaped % b"1, 2")
        @example(b"[" * 100_000)
        def never_a_500(body: bytes) -> None:
            answer = client.post(URL, content=body, headers={"content-type": "application/json"})
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            assert answer.status_code in (200, 400, 413), (answer.status_code, answer.text[:500])
            assert answer.headers["content-type"] == "application/json"
            payload = answer.json()
            if answer.status_code == 200:
                assert set(payload) == {"features", "metadata"}
                assert len({len(column) for column in payload["features"].values()}) == 1
            else:
                assert list(payload) == ["error"] and payload["error"] and "Traceback" not in answer.text

        before = server.counts()
        never_a_500()
    after = server.counts()
    assert seen.get(200, 0) > 0 and seen.get(400, 0) > 0, seen
    assert after.get((URL, 500), 0) == before.get((URL, 500), 0)
    assert sum(after.get((URL, status), 0) - before.get((URL, status), 0) for status in seen) == sum(seen.values())
