"""The Redis online store: key layout, value encoding, the publish switch and reads.

Layout of one view version (``naming.online_*``; the braces are a Redis Cluster hash tag, so every key
of a view version is in one slot):

    pitstop:{<project>:<view>__v<N>}:current   hash: gen, ds, version (Delta), rows, schema, published_at
    pitstop:{<project>:<view>__v<N>}:g<gen>    hash: entity field -> msgpack list of the feature values
    pitstop:{<project>:<view>__v<N>}:gens      set of generations written (current, in progress, garbage)
    pitstop:{<project>:<view>__v<N>}:seq       counter handing out generation numbers

A publish writes a NEW generation (with an expiry, so a publish that dies leaves only garbage that Redis
collects), then one script checks its ordering and completeness and switches ``current`` to it (and
removes its expiry): readers see the old snapshot or the new one, never a mix. Older generations are
unlinked afterwards. A read is one script per view: it reads ``current`` and the entity fields of that
generation atomically.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pitstop.plan import naming
from pitstop.plan.model import View

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.stores.redis_client import Client
    from pitstop.stores.redis_lite import LiteClient

ENCODING = 1  # bump when the value encoding changes; part of the published schema
GARBAGE_TTL_S = 24 * 3600  # expiry of a generation until it is switched to: collects dead publishes only
WRITE_BATCH = 1000  # entity fields per HSET
PIPELINE_WINDOW = 16  # HSET commands sent and not yet answered, per writer
SCRIPT_CHUNK = 1000  # fields per HMGET inside the read script (Lua's unpack limit)

SWITCH = """
local cur = redis.call('HMGET', KEYS[1], 'ds', 'version', 'gen')
if cur[3] == ARGV[1] then return {1, 'switched', cur[1], cur[2]} end -- a retried call whose reply was lost
if cur[1] then
  if cur[1] > ARGV[2] then return {0, 'newer', cur[1], cur[2]} end
  if cur[1] == ARGV[2] and tonumber(cur[2]) >= tonumber(ARGV[3]) then return {0, 'same', cur[1], cur[2]} end
end
local n = redis.call('HLEN', KEYS[2])
if n ~= tonumber(ARGV[4]) then return {-1, 'incomplete', tostring(n), ARGV[4]} end
redis.call('PERSIST', KEYS[2])
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'ds', ARGV[2], 'version', ARGV[3], 'rows', ARGV[4],
           'schema', ARGV[5], 'published_at', ARGV[6])
return {1, 'switched', cur[1] or '', cur[2] or ''}
"""

GARBAGE = """
local cur = redis.call('HGET', KEYS[1], 'gen')
if not cur then return {} end
local removed = {}
for _, g in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if tonumber(g) < tonumber(cur) then
    redis.call('UNLINK', ARGV[1] .. g)
    redis.call('SREM', KEYS[2], g)
    removed[#removed + 1] = g
  end
end
return removed
"""

DISCARD = """
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""

READ = """
local meta = redis.call('HMGET', KEYS[1], 'gen', 'ds', 'version', 'schema')
if not meta[1] then return {} end
local data = ARGV[1] .. meta[1]
local out = {meta[1], meta[2], meta[3], meta[4]}
local n = #ARGV
local i = 2
while i <= n do
  local j = math.min(i + CHUNK - 1, n)
  local part = redis.call('HMGET', data, unpack(ARGV, i, j))
  for k = 1, #part do out[#out + 1] = part[k] end
  i = j + 1
end
return out
""".replace("CHUNK", str(SCRIPT_CHUNK))


@dataclass(frozen=True)
class ViewKeys:
    pointer: str
    data_prefix: str
    generations: str
    sequence: str

    @classmethod
    def of(cls, project: str, view: str, version: int) -> ViewKeys:
        return cls(naming.online_pointer_key(project, view, version),
                   naming.online_data_prefix(project, view, version),
                   naming.online_generations_key(project, view, version),
                   naming.online_sequence_key(project, view, version))

    def data(self, generation: int | str) -> str:
        return f"{self.data_prefix}{generation}"


def schema_id(view: View) -> str:
    """What a published generation's values mean: the encoding and the view's data fingerprint."""
    return f"{ENCODING}:{view.data_fingerprint}"


@dataclass(frozen=True)
class Published:
    generation: int
    ds: date
    delta_version: int
    schema: str


def current(client: Client | LiteClient, keys: ViewKeys) -> Published | None:
    raw: list[Any] = client.hmget(keys.pointer, ["gen", "ds", "version", "schema"])
    if raw[0] is None:
        return None
    gen, ds, version, schema = (v.decode() for v in raw)
    return Published(int(gen), date.fromisoformat(ds), int(version), schema)


def new_generation(client: Client, keys: ViewKeys) -> int:
    generation = int(client.incr(keys.sequence))
    client.sadd(keys.generations, generation)
    return generation


# ----------------------------------------------------------------------------------------------------------
# executor side: Arrow batches of a snapshot -> HSETs into one generation


MULTI = b"*1\r\n$5\r\nMULTI\r\n"
EXEC = b"*1\r\n$4\r\nEXEC\r\n"


@dataclass(frozen=True)
class WriteSpec:
    """Everything an executor needs to write its partition (picklable; no client, no Spark)."""

    url: str
    data_key: str
    key_columns: tuple[str, ...]
    value_columns: tuple[str, ...]  # in encoding order; timestamps arrive as epoch microseconds

    def write(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """mapInArrow body: encode each Arrow batch column-wise (``packing``) into RESP HSET commands and
        send them on one connection, pipelined (a window of commands in flight); yields the rows written."""
        import pyarrow as pa

        from pitstop.stores import packing
        from pitstop.stores.redis_client import connect, is_cluster

        client: Any = connect(self.url)
        node: Any = client.get_node_from_key(self.data_key).redis_connection if is_cluster(self.url) else client
        pool = node.connection_pool
        connection: Any = pool.get_connection()  # raw RESP to the node holding the generation
        key = self.data_key.encode()
        expire = b"*4\r\n$6\r\nEXPIRE\r\n$%d\r\n%s\r\n$%d\r\n%d\r\n$2\r\nNX\r\n" % (
            len(key), key, len(str(GARBAGE_TTL_S)), GARBAGE_TTL_S)
        written = 0
        in_flight = 0
        try:
            connection.check_health()
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                fields = packing.entity_fields([batch.column(c) for c in self.key_columns])
                values = packing.msgpack_row_parts([batch.column(c) for c in self.value_columns])
                # each batch's HSETs and an EXPIRE NX in one MULTI/EXEC: the generation expires unless switched to,
                # even if this writer dies between two commands (a kill mid-batch once left HSETs without it)
                commands = [MULTI, *packing.hset_commands(key, fields, values, WRITE_BATCH), expire, EXEC]
                connection.send_packed_command(commands, check_health=False)
                in_flight += len(commands)  # a reply each: +OK, +QUEUED per command, then EXEC's array
                while in_flight > PIPELINE_WINDOW:  # read replies as they come; never more than a window queued
                    connection.read_response()
                    in_flight -= 1
                written += batch.num_rows
            while in_flight:
                connection.read_response()
                in_flight -= 1
        finally:
            pool.release(connection)
            client.close()
        yield pa.RecordBatch.from_pydict({"written": [written]})


def switch(client: Client, keys: ViewKeys, generation: int, ds: date, delta_version: int, rows: int,
           schema: str) -> tuple[str, list[str]]:
    """Make ``generation`` current if it is newer than the published one and complete. Returns the outcome
    ("switched", "newer", "same", "incomplete") and its details."""
    result = client.eval(SWITCH, 2, keys.pointer, keys.data(generation), generation, ds.isoformat(),
                         delta_version, rows, schema, int(time.time() * 1_000_000))
    outcome = result[1].decode()
    return outcome, [r.decode() if isinstance(r, bytes) else str(r) for r in result[2:]]


def collect_garbage(client: Client, keys: ViewKeys) -> list[int]:
    """Unlink every generation older than the current one, atomically with reading which one is current
    (so a concurrent publisher's newer switch is never undone); newer generations may be in progress."""
    removed = client.eval(GARBAGE, 2, keys.pointer, keys.generations, keys.data_prefix)
    return sorted(int(g) for g in removed)


def discard(client: Client, keys: ViewKeys, generation: int) -> bool:
    """Unlink a generation that was not switched to; never the current one (a switch retried after a lost
    reply can report "same" for a generation it had made current)."""
    return bool(client.eval(DISCARD, 3, keys.pointer, keys.data(generation), keys.generations, generation))


# ----------------------------------------------------------------------------------------------------------
# reads


@dataclass(frozen=True)
class ViewRead:
    """What one read script returned for a view: the published generation (None if nothing is published)
    and the packed values of the asked entities (None where the entity has no row)."""

    published: Published | None
    values: list[bytes | None]


READ_SHA = hashlib.sha1(READ.encode()).hexdigest()


def read_views(client: Client | LiteClient, requests: list[tuple[ViewKeys, list[str]]]) -> list[ViewRead]:
    """One round trip (one per node on a Redis Cluster): for each (view keys, entity fields), the current
    generation's values. EVALSHA of the read script, pipelined when there are several views; the script
    is loaded once per server. ``client`` is redis-py's, or the one-shot client of ``redis_lite``."""
    from pitstop.stores.redis_lite import LiteClient

    if isinstance(client, LiteClient):
        return _view_reads(client.evalsha_all(READ, READ_SHA, [[1, keys.pointer, keys.data_prefix, *fields]
                                                               for keys, fields in requests]))
    import redis as redis_lib
    from redis.cluster import RedisCluster

    def pipelined(node: Any, asks: list[tuple[ViewKeys, list[str]]]) -> list[Any]:
        if len(asks) == 1:
            keys, fields = asks[0]
            return [node.evalsha(READ_SHA, 1, keys.pointer, keys.data_prefix, *fields)]
        pipe = node.pipeline(transaction=False)
        for keys, fields in asks:
            pipe.evalsha(READ_SHA, 1, keys.pointer, keys.data_prefix, *fields)
        return list(pipe.execute())

    def send() -> list[Any]:
        if not isinstance(client, RedisCluster):
            return pipelined(client, requests)
        # a view version's keys share one hash slot: group the views by the node that serves them
        by_node: dict[str, tuple[Any, list[int]]] = {}
        cluster: Any = client
        for i, (keys, _) in enumerate(requests):
            node = cluster.get_node_from_key(keys.pointer)
            by_node.setdefault(node.name, (node.redis_connection, []))[1].append(i)
        replies: list[Any] = [None] * len(requests)
        for node_client, positions in by_node.values():
            for i, reply in zip(positions, pipelined(node_client, [requests[i] for i in positions]), strict=True):
                replies[i] = reply
        return replies

    try:
        replies = send()
    except redis_lib.exceptions.NoScriptError:
        client.script_load(READ)  # a new or restarted server (on a cluster: every primary)
        replies = send()
    except (redis_lib.exceptions.MovedError, redis_lib.exceptions.AskError):
        if not isinstance(client, RedisCluster):
            raise
        client.nodes_manager.initialize()  # slots moved (resharding, failover): learn the new map once
        replies = send()
    return _view_reads(replies)


def _view_reads(replies: list[Any]) -> list[ViewRead]:
    out = []
    for reply in replies:
        if not reply:
            out.append(ViewRead(None, []))
            continue
        out.append(ViewRead(_published(*reply[:4]), reply[4:]))
    return out


@functools.lru_cache(maxsize=256)
def _published(gen: bytes, ds: bytes, version: bytes, schema: bytes) -> Published:
    return Published(int(gen), date.fromisoformat(ds.decode()), int(version), schema.decode())


@functools.lru_cache(maxsize=256)
def snapshot_time(ds: date) -> datetime:
    """S(ds) = ds + 1 day, 00:00 UTC."""
    return datetime(ds.year, ds.month, ds.day, tzinfo=UTC) + timedelta(days=1)


def retired_tags(client: Client, project: str, current: set[str]) -> list[str]:
    """The view versions (``<view>__v<N>``) of ``project`` that have keys in Redis but are not in ``current``."""
    prefix = f"{naming.ONLINE_PREFIX}:{{{project}:"
    found = set()
    for key in client.scan_iter(match=f"{prefix}*}}:*", count=1000):
        text = key.decode()
        found.add(text[len(prefix):text.index("}", len(prefix))])
    return sorted(found - current)


def remove_tag(client: Client, project: str, table: str) -> int:
    """Unlink every key of one view version (its tag ``<view>__v<N>``)."""
    removed = 0
    keys = [k for k in client.scan_iter(match=f"{naming.ONLINE_PREFIX}:{{{project}:{table}}}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        removed += int(client.unlink(*keys[start:start + 1000]))
    return removed
