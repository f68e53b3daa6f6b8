"""Small files beside the Delta tables (validation results), on any Hadoop file system."""

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
