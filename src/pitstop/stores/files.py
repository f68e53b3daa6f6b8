"""Small files beside the Delta tables (validation results, training-set manifests), on any Hadoop file
system (local, s3a://, hdfs://, abfss://), through the active Spark session's Hadoop configuration."""

from __future__ import annotations

from typing import Any


def _fs(path: str) -> tuple[Any, Any, Any]:
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError(f"writing {path} needs an active Spark session")
    jvm: Any = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, hadoop_path, hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())


def upload_folder(local: str, path: str) -> None:
    """Copy a local folder to ``path`` on the Hadoop file system."""
    jvm, target, fs = _fs(path)
    fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path("file://" + local), target)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (s3a://, hdfs://, file:) through the active Spark session's Hadoop
    configuration, so credentials and endpoints are those the Delta tables use."""
    _, hadoop_path, fs = _fs(path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(path: str) -> str | None:
    """The text of ``path``, or None when there is no such file."""
    jvm, hadoop_path, fs = _fs(path)
    if not fs.exists(hadoop_path) or fs.getFileStatus(hadoop_path).isDirectory():
        return None
    stream = fs.open(hadoop_path)
    try:
        data = jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode("utf-8")


def is_nonempty_dir(path: str) -> bool:
    """``path`` is a folder holding at least one entry."""
    _, hadoop_path, fs = _fs(path)
    return bool(fs.exists(hadoop_path) and fs.getFileStatus(hadoop_path).isDirectory()
                and len(fs.listStatus(hadoop_path)) > 0)
