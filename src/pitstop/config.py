"""pitstop.yaml at the feature repository's root, plus environment overrides.

```yaml
project: demo
offline_store:
  path: data/delta          # relative to the repo root, or any Hadoop URI (s3a://, abfss://, hdfs://)
  retention_hours: 720      # `pitstop vacuum` keeps the files of table versions younger than this
spark:
  master: local[*]
  conf: {}                  # extra Spark configuration
s3:                         # optional: S3A settings for s3a:// paths (offline store and sources)
  endpoint: http://127.0.0.1:9000   # an S3-compatible server (MinIO, Ceph, moto); default: AWS itself
  region: us-east-1
  path_style_access: true   # bucket in the path, not the host name (default: true when endpoint is set)
online_store:
  url: redis://127.0.0.1:6379/0   # rediss:// for TLS, redis+cluster://node:port for a Redis Cluster;
                                  # credentials in the URL or the environment
  max_entities: 10000       # entities one online read may ask for
serve:                      # `pitstop serve`, the HTTP API
  max_body_bytes: 1048576   # larger request bodies are refused with 413 (1 MiB)
airflow:                    # the generated DAGs (dags/pitstop_dags.py)
  spark_conn_id: pitstop_spark    # the Airflow connection spark-submit uses (its host is the master)
  retries: 3                # transient failures only; terminal ones (bad input, failed validation) never retry
  retry_delay_seconds: 60   # doubled on each retry (exponential backoff) ...
  max_retry_delay_seconds: 1800   # ... up to this
  sensor_timeout_seconds: 21600   # how long a run waits for its source data before failing
  sensor_poke_seconds: 300  # how often the source is checked
  deferrable: true          # the source wait runs in the triggerer (no worker slot held)
  consistency_sample: 1000  # entities the monitor task compares between Delta and Redis
```
Environment overrides: PITSTOP_OFFLINE_STORE_PATH, PITSTOP_SPARK_MASTER, PITSTOP_ONLINE_STORE_URL,
and PITSTOP_ONLINE_STORE_PASSWORD (a password kept out of files); for S3 the standard AWS variables:
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION, and the credentials
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or an instance profile), which S3A and
pyarrow read themselves: pitstop never copies them into Spark settings or logs. Credentials are never printed:
use ``Config.describe()`` / ``redact_url()`` for anything shown to a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pitstop.definitions._validate import IDENTIFIER
from pitstop.errors import ConfigError
from pitstop.jsontypes import JSONObject
from pitstop.plan.naming import CONFIG_FILE, PLAN_FILE

DEFAULT_OFFLINE_PATH = "data/delta"
DEFAULT_SPARK_MASTER = "local[*]"
DEFAULT_ONLINE_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RETENTION_HOURS = 30 * 24  # training-set manifests rebuild for a month by default
DEFAULT_MAX_ENTITIES = 10_000
DEFAULT_MAX_BODY_BYTES = 1 << 20
ENV_OFFLINE = "PITSTOP_OFFLINE_STORE_PATH"
ENV_MASTER = "PITSTOP_SPARK_MASTER"
ENV_ONLINE = "PITSTOP_ONLINE_STORE_URL"
ENV_ONLINE_PASSWORD = "PITSTOP_ONLINE_STORE_PASSWORD"
_SCHEMA: dict[str, tuple[str, ...]] = {
    "project": (),
    "offline_store": ("path", "retention_hours"),
    "spark": ("master", "conf"),
    "online_store": ("url", "max_entities"),
    "s3": ("endpoint", "region", "path_style_access"),
    "serve": ("max_body_bytes",),
    "airflow": ("spark_conn_id", "retries", "retry_delay_seconds", "max_retry_delay_seconds",
                "sensor_timeout_seconds", "sensor_poke_seconds", "deferrable", "consistency_sample"),
}

ArrowS3Options = dict[str, str | bool]
"""Keyword arguments of pyarrow.fs.S3FileSystem: endpoint_override, scheme, region, force_virtual_addressing."""


@dataclass(frozen=True)
class AirflowSettings:
    """How the generated DAGs run their tasks (pitstop.yaml ``airflow:``)."""

    spark_conn_id: str = "pitstop_spark"
    retries: int = 3
    retry_delay_seconds: int = 60
    max_retry_delay_seconds: int = 1800
    sensor_timeout_seconds: int = 6 * 3600
    sensor_poke_seconds: int = 300
    deferrable: bool = True
    consistency_sample: int = 1000


def _airflow_settings(section: Mapping[str, Any], source: str) -> AirflowSettings:
    defaults = AirflowSettings()
    values: dict[str, Any] = {}
    for key in _SCHEMA["airflow"]:
        value = section.get(key, getattr(defaults, key))
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            want = "true or false"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= (0 if key == "retries" else 1)
            want = "a whole number >= 0" if key == "retries" else "a whole number >= 1"
        else:
            ok = isinstance(value, str) and bool(value.strip())
            want = "a non-empty string"
        if not ok:
            raise ConfigError(f"{source}: airflow.{key} must be {want}, got {value!r}")
        values[key] = value
    return AirflowSettings(**values)


@dataclass(frozen=True)
class S3Settings:
    """Where s3a:// paths live (pitstop.yaml ``s3:``, or the AWS environment variables); no credentials."""

    endpoint: str | None = None
    region: str | None = None
    path_style_access: bool | None = None  # None: true when an endpoint is set

    @property
    def path_style(self) -> bool:
        return self.path_style_access if self.path_style_access is not None else self.endpoint is not None

    def hadoop_conf(self) -> dict[str, str]:
        """The S3A settings for Spark (``spark.hadoop.fs.s3a.*``); credentials stay with S3A's own chain."""
        conf: dict[str, str] = {}
        if self.endpoint:
            conf["spark.hadoop.fs.s3a.endpoint"] = self.endpoint
            if self.endpoint.startswith("http://"):
                conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
        if self.region:
            conf["spark.hadoop.fs.s3a.endpoint.region"] = self.region
        if self.path_style:
            conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        return conf

    def arrow_options(self) -> ArrowS3Options:
        """Keyword arguments for pyarrow.fs.S3FileSystem (the readers that need no Spark)."""
        options: ArrowS3Options = {}
        if self.endpoint:
            scheme, _, host = self.endpoint.partition("://")
            options["endpoint_override"] = host if host else scheme
            if host:
                options["scheme"] = scheme
        if self.region:
            options["region"] = self.region
        options["force_virtual_addressing"] = not self.path_style
        return options


def _s3_settings(section: Mapping[str, Any], env: Mapping[str, str], source: str) -> S3Settings:
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or section.get("endpoint")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or section.get("region")
    style = section.get("path_style_access")
    for key, value in (("endpoint", endpoint), ("region", region)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{source}: s3.{key} must be a non-empty string, got {value!r}")
    if endpoint is not None and not re.match(r"^https?://[^/\s]+/?$", endpoint):
        raise ConfigError(f"{source}: s3.endpoint must be http(s)://host[:port], got {endpoint!r}")
    if style is not None and not isinstance(style, bool):
        raise ConfigError(f"{source}: s3.path_style_access must be true or false, got {style!r}")
    return S3Settings(endpoint.rstrip("/") if endpoint else None, region, style)


def check_project_name(project: object, where: str) -> str:
    """The project name prefixes tables and Redis keys: the identifier rule of every other name."""
    if not isinstance(project, str) or not IDENTIFIER.match(project):
        raise ConfigError(f"{where}: 'project' must be a name matching [a-z][a-z0-9_]* (it prefixes Redis "
                          f"keys and tables), got {project!r}")
    return project


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>.*)@(?P<rest>[^@]*)$", re.DOTALL)
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;])(?:password|pass|pwd|token|secret)=)[^&;#]*")


def redact_url(url: str) -> str:
    """The URL with any password (in the user info or a password= argument) replaced by ***.

    Works on the raw text, so a password holding '/', '#', '?' or '@' is hidden too."""
    text = url
    match = _USERINFO.match(text)
    if match:
        user, sep, _ = match.group("userinfo").partition(":")
        userinfo = f"{user}:***" if sep else user
        text = f"{match.group('scheme')}{userinfo}@{match.group('rest')}"
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}***", text)


@dataclass(frozen=True)
class Config:
    repo: Path
    project: str
    offline_store_path: str  # absolute local path or a Hadoop URI
    spark_master: str
    spark_conf: dict[str, str] = field(default_factory=dict)
    online_store_url: str = field(default=DEFAULT_ONLINE_URL, repr=False)
    max_entities: int = DEFAULT_MAX_ENTITIES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retention_hours: int = DEFAULT_RETENTION_HOURS
    airflow: AirflowSettings = field(default_factory=AirflowSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    s3_declared: bool = False  # pitstop.yaml has an s3: section (sources on S3 with a local offline store)

    @property
    def uses_s3(self) -> bool:
        """Sessions need the S3A connector: the offline store is s3a://, pitstop.yaml has an ``s3:``
        section, or spark.conf sets fs.s3a options."""
        return (self.offline_store_path.startswith("s3a://") or self.s3_declared
                or any(k.startswith("spark.hadoop.fs.s3a.") for k in self.spark_conf))

    def arrow_s3(self) -> ArrowS3Options | None:
        """pyarrow.fs.S3FileSystem options for the readers that need no Spark; None when S3 is not used."""
        return self.s3.arrow_options() if self.uses_s3 else None

    @property
    def plan_path(self) -> Path:
        return self.repo / PLAN_FILE

    @property
    def feature_defs(self) -> Path:
        return self.repo / "feature_defs"

    @property
    def online_store_url_redacted(self) -> str:
        return redact_url(self.online_store_url)

    def describe(self) -> JSONObject:
        """Effective settings for display: secrets redacted."""
        return {
            "repo": str(self.repo),
            "project": self.project,
            "offline_store": {"path": self.offline_store_path, "retention_hours": self.retention_hours},
            "spark": {"master": self.spark_master,
                      "conf": {k: ("***" if _secret_key(k) else v) for k, v in sorted(self.spark_conf.items())}},
            "online_store": {"url": self.online_store_url_redacted, "max_entities": self.max_entities},
            "serve": {"max_body_bytes": self.max_body_bytes},
            "s3": {"endpoint": self.s3.endpoint, "region": self.s3.region, "path_style_access": self.s3.path_style,
                   "connector": self.uses_s3},
            "airflow": {k: getattr(self.airflow, k) for k in _SCHEMA["airflow"]},
        }

    def __repr__(self) -> str:
        return (f"Config(repo={str(self.repo)!r}, project={self.project!r}, offline_store_path="
                f"{self.offline_store_path!r}, spark_master={self.spark_master!r}, online_store_url="
                f"{self.online_store_url_redacted!r})")


def _secret_key(key: str) -> bool:
    return bool(re.search(r"secret|password|token|access\.key|account\.key|\.sas\.|private\.key|auth|credential",
                          key, re.IGNORECASE))


def find_repo(start: Path) -> Path:
    """The folder holding pitstop.yaml: ``start`` or its nearest parent that has one."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(f"no {CONFIG_FILE} in {start} or any parent folder: run pitstop from a feature "
                      f"repository, pass --repo DIR, or create one with `pitstop init DIR`")


def _section(raw: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: '{key}' must be a mapping, got {value!r}")
    unknown = sorted(set(value) - set(_SCHEMA[key]))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} under '{key}'; valid keys: "
                          f"{', '.join(_SCHEMA[key])}")
    return value


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = quote(parts.username or "", safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def load_config(repo: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load ``pitstop.yaml`` from ``repo`` (default: the current folder or a parent) and apply the
    environment overrides. Raises ConfigError naming the file, the key and the fix."""
    import yaml

    env = os.environ if env is None else env
    root = find_repo(repo if repo is not None else Path.cwd()) if repo is None else repo.resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"no {CONFIG_FILE} in {root}: create it (see `pitstop init`) or pass the "
                          f"feature repository with --repo DIR")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(_SCHEMA)}")
    project = check_project_name(raw.get("project"), str(path))
    offline = _section(raw, "offline_store", str(path))
    spark = _section(raw, "spark", str(path))
    online = _section(raw, "online_store", str(path))
    airflow = _airflow_settings(_section(raw, "airflow", str(path)), str(path))
    if isinstance(raw.get("s3"), Mapping):
        secret = sorted(k for k in raw["s3"] if _secret_key(str(k)) or "key" in str(k))
        if secret:
            raise ConfigError(f"{path}: s3.{secret[0]}: credentials never go in pitstop.yaml; set "
                              f"AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment (or use an instance "
                              f"profile), which S3A and pyarrow read themselves")
    s3 = _s3_settings(_section(raw, "s3", str(path)), env, str(path))

    offline_path = env.get(ENV_OFFLINE) or offline.get("path") or DEFAULT_OFFLINE_PATH
    if not isinstance(offline_path, str):
        raise ConfigError(f"{path}: offline_store.path must be a string, got {offline_path!r}")
    if "://" not in offline_path and not offline_path.startswith("/"):
        offline_path = str((root / offline_path).resolve())
    if offline_path.startswith(("s3://", "s3n://")):
        raise ConfigError(f"{path}: offline_store.path {offline_path!r}: Hadoop reads S3 through the S3A "
                          f"connector; write s3a://{offline_path.split('://', 1)[1]}")
    retention = offline.get("retention_hours", DEFAULT_RETENTION_HOURS)
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 0:
        raise ConfigError(f"{path}: offline_store.retention_hours must be a whole number of hours >= 0, got "
                          f"{retention!r}")
    master = env.get(ENV_MASTER) or spark.get("master") or DEFAULT_SPARK_MASTER
    if not isinstance(master, str):
        raise ConfigError(f"{path}: spark.master must be a string such as local[*] or "
                          f"spark://host:7077, got {master!r}")
    conf = spark.get("conf") or {}
    if not isinstance(conf, Mapping):
        raise ConfigError(f"{path}: spark.conf must be a mapping of Spark settings, got {conf!r}")
    url = env.get(ENV_ONLINE) or online.get("url") or DEFAULT_ONLINE_URL
    if not isinstance(url, str):
        raise ConfigError(f"{path}: online_store.url must be a string, got a {type(url).__name__}")
    try:
        parsed = urlsplit(url)
        scheme = parsed.scheme
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"online_store.url {redact_url(url)!r} is not a valid URL ({exc}); percent-encode "
                          f"special characters in the password or use PITSTOP_ONLINE_STORE_PASSWORD") from exc
    if scheme not in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        raise ConfigError(f"online_store.url must start with redis://, rediss:// (TLS), unix://, or "
                          f"redis+cluster:// / rediss+cluster:// (any node of a Redis Cluster), got "
                          f"{redact_url(url)!r}")
    max_entities = online.get("max_entities", DEFAULT_MAX_ENTITIES)
    if isinstance(max_entities, bool) or not isinstance(max_entities, int) or max_entities < 1:
        raise ConfigError(f"{path}: online_store.max_entities must be a whole number >= 1, got {max_entities!r}")
    max_body_bytes = _section(raw, "serve", str(path)).get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ConfigError(f"{path}: serve.max_body_bytes must be a whole number of bytes >= 1, got "
                          f"{max_body_bytes!r}")
    password = env.get(ENV_ONLINE_PASSWORD)
    if password:
        url = _with_password(url, password)
    empty = sorted(str(k) for k, v in conf.items() if v is None)
    if empty:
        raise ConfigError(f"{path}: spark.conf {empty} ha(s) no value; give each setting a value or remove it")
    return Config(repo=root, project=project, offline_store_path=offline_path, spark_master=master,
                  spark_conf={str(k): str(v) for k, v in conf.items()}, online_store_url=url,
                  max_entities=max_entities, max_body_bytes=max_body_bytes, retention_hours=retention,
                  airflow=airflow, s3=s3,
                  s3_declared="s3" in raw)
