"""pitstop.yaml loading, environment overrides, and credentials never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitstop.config import load_config, redact_url
from pitstop.errors import ConfigError


def write(repo: Path, text: str) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "pitstop.yaml").write_text(text)
    return repo


FULL = """
project: demo
offline_store:
  path: data/delta
spark:
  master: local[2]
  conf:
    spark.sql.shuffle.partitions: 8
online_store:
  url: redis://:s3cret@127.0.0.1:6390/1
serve:
  max_body_bytes: 4096
"""


def test_full_config_and_defaults(tmp_path: Path) -> None:
    repo = write(tmp_path / "r", FULL)
    config = load_config(repo, env={})
    assert config.project == "demo"
    assert config.repo == repo.resolve()
    assert config.offline_store_path == str(repo.resolve() / "data" / "delta")
    assert config.spark_master == "local[2]"
    assert config.spark_conf == {"spark.sql.shuffle.partitions": "8"}
    assert config.online_store_url == "redis://:s3cret@127.0.0.1:6390/1"
    assert config.plan_path == repo.resolve() / "dags" / "pitstop_plan.json"
    assert config.max_body_bytes == 4096 and config.describe()["serve"] == {"max_body_bytes": 4096}

    minimal = load_config(write(tmp_path / "m", "project: p\n"), env={})
    assert (minimal.spark_master, minimal.online_store_url) == ("local[*]", "redis://127.0.0.1:6379/0")
    assert minimal.offline_store_path.endswith("/m/data/delta")
    assert minimal.max_body_bytes == 1_048_576


def test_environment_overrides(tmp_path: Path) -> None:
    repo = write(tmp_path / "r", FULL)
    config = load_config(repo, env={
        "PITSTOP_OFFLINE_STORE_PATH": "s3a://bucket/features",
        "PITSTOP_SPARK_MASTER": "spark://master:7077",
        "PITSTOP_ONLINE_STORE_URL": "rediss://alice@redis.example:6380/2",
        "PITSTOP_ONLINE_STORE_PASSWORD": "p@ss:word",
    })
    assert config.offline_store_path == "s3a://bucket/features"
    assert config.spark_master == "spark://master:7077"
    assert config.online_store_url == "rediss://alice:p%40ss%3Aword@redis.example:6380/2"


def test_credentials_are_never_shown(tmp_path: Path) -> None:
    repo = write(tmp_path / "r", FULL.replace("conf:", "conf:\n    spark.hadoop.fs.s3a.secret.key: AKIASECRET"))
    config = load_config(repo, env={})
    shown = f"{config!r} {config.describe()}"
    assert "s3cret" not in shown and "AKIASECRET" not in shown
    assert config.describe()["online_store"]["url"] == "redis://:***@127.0.0.1:6390/1"
    assert config.describe()["spark"]["conf"]["spark.hadoop.fs.s3a.secret.key"] == "***"
    assert redact_url("redis://u:pw@h:1/0") == "redis://u:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = write(tmp_path / "r", "project: p\n")
    (repo / "feature_defs").mkdir()
    monkeypatch.chdir(repo / "feature_defs")
    assert load_config(env={}).repo == repo.resolve()


@pytest.mark.parametrize(("text", "message"), [
    ("project: Demo\n", "'project' must be a name matching [a-z][a-z0-9_]*"),
    ("projct: demo\n", "unknown key(s) ['projct']; valid keys: project, offline_store, spark, online_store"),
    ("project: d\nspark:\n  mastr: local\n", "unknown key(s) ['mastr'] under 'spark'; valid keys: master, conf"),
    ("project: d\nonline_store:\n  url: http://x\n",
     "online_store.url must start with redis://, rediss:// (TLS), unix://, or redis+cluster:// / "
     "rediss+cluster:// (any node of a Redis Cluster), got 'http://x'"),
    ("project: d\nspark: [1]\n", "'spark' must be a mapping"),
    ("project: [\n", "not valid YAML"),
    ("project: d\nserve:\n  max_body_bytes: 0\n", "serve.max_body_bytes must be a whole number of bytes >= 1, got 0"),
    ("project: d\nserve:\n  max_body: 10\n", "unknown key(s) ['max_body'] under 'serve'; valid keys: max_body_bytes"),
])
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    repo = write(tmp_path / "r", text)
    with pytest.raises(ConfigError) as err:
        load_config(repo, env={})
    assert message in str(err.value)


def test_no_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no pitstop.yaml in .* create it \(see `pitstop init`\)"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:Xy/9+secret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ("redis://u:a#b?c@d@h:6379/0", "redis://u:***@h:6379/0"),
    ("redis://h:6379/0?password=qsecret&db=1", "redis://h:6379/0?password=***&db=1"),
    ("rediss://alice@h:6380/0", "rediss://alice@h:6380/0"),
])
def test_redaction_of_awkward_urls(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_more_secret_spark_settings_are_masked(tmp_path: Path) -> None:
    conf = {"spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net": "AZKEY",
            "spark.hadoop.fs.azure.sas.c.a.blob.core.windows.net": "SASKEY",
            "spark.authenticate.secret": "S", "spark.sql.shuffle.partitions": "8"}
    text = "project: p\nspark:\n  conf:\n" + "".join(f"    {k}: {v}\n" for k, v in conf.items())
    shown = load_config(write(tmp_path / "r", text), env={}).describe()["spark"]["conf"]
    assert shown == {k: ("8" if k.endswith("partitions") else "***") for k in conf}


def test_bad_port_and_empty_spark_setting_are_config_errors(tmp_path: Path) -> None:
    repo = write(tmp_path / "r", "project: p\n")
    with pytest.raises(ConfigError) as err:
        load_config(repo, env={"PITSTOP_ONLINE_STORE_URL": "redis://:pw@localhost:63x9/0"})
    assert "pw" not in str(err.value).replace("percent-encode", "")
    assert "is not a valid URL" in str(err.value)
    write(tmp_path / "r", "project: p\nspark:\n  conf:\n    spark.x:\n")
    with pytest.raises(ConfigError, match=r"spark.conf \['spark.x'\] ha\(s\) no value"):
        load_config(repo, env={})


def test_s3_settings_from_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "pitstop.yaml").write_text("project: p\noffline_store:\n  path: s3a://lake/pitstop\n"
                                           "s3:\n  endpoint: http://127.0.0.1:9000\n  region: eu-west-1\n")
    config = load_config(tmp_path, env={})
    assert config.uses_s3
    assert config.s3.hadoop_conf() == {"spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
                                       "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
                                       "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
                                       "spark.hadoop.fs.s3a.path.style.access": "true"}
    assert config.s3.arrow_options() == {"endpoint_override": "127.0.0.1:9000", "scheme": "http",
                                         "region": "eu-west-1", "force_virtual_addressing": False}
    env = load_config(tmp_path, env={"AWS_ENDPOINT_URL_S3": "https://s3.example.com", "AWS_REGION": "us-east-2"})
    assert (env.s3.endpoint, env.s3.region) == ("https://s3.example.com", "us-east-2")
    (tmp_path / "pitstop.yaml").write_text("project: p\n")
    plain = load_config(tmp_path, env={})
    assert not plain.uses_s3 and plain.s3.hadoop_conf() == {}
    assert plain.s3.arrow_options() == {"force_virtual_addressing": True}


@pytest.mark.parametrize(("text", "message"), [
    ("s3:\n  secret_key: x\n", "s3.secret_key: credentials never go in pitstop.yaml"),
    ("s3:\n  endpoint: 127.0.0.1:9000\n", "s3.endpoint must be http(s)://host[:port]"),
    ("s3:\n  path_style_access: yes-please\n", "s3.path_style_access must be true or false"),
    ("offline_store:\n  path: s3://lake/x\n", "write s3a://lake/x"),
])
def test_bad_s3_config(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pitstop.yaml").write_text("project: p\n" + text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        load_config(tmp_path, env={})
