"""Small files beside the Delta tables (validation results, training-set manifests), on any Hadoop file
system (local, s3a://, hdfs://, abfss://), through the active Spark session's Hadoop configuration.

Over Spark Connect (the warm engine) there is no JVM in this process: the files go through pyarrow's file
systems instead (local, or S3 with ``s3``: Config.arrow_s3(); without it, the AWS environment's settings)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def _arrow(path: str, s3: Mapping[str, Any] | None) -> tuple[Any, str] | None:
    """pyarrow's file system and the path in it when the active session is a Spark Connect one, else None."""
    from pyspark.sql import SparkSession

    from pitstop.stores.spark import is_connect

    spark = SparkSession.getActiveSession()
    if spark is None or not is_connect(spark):
        return None
    from pitstop.stores.delta_log import filesystem

    return filesystem(path, s3)


def _fs(path: str) -> tuple[Any, Any, Any]:
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuntimeError(f"writing {path} needs an active Spark session")
    jvm: Any = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, hadoop_path, hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())


def upload_folder(local: str, path: str, s3: Mapping[str, Any] | None = None) -> None:
    """Copy a local folder to ``path`` on the Hadoop file system, file by file through output streams.

    Not ``FileSystem.copyFromLocalFile``: on S3A that sends each file as one PUT with a file body and
    ``Expect: 100-continue``, and with the AWS SDK 2.35 in hadoop-aws 3.5.0 a file of a few MB then fails
    against some S3-compatible servers (the SDK reports the interim ``100 Continue`` as the response and
    retries without end); the stream path, which every Delta write takes, uploads the same bytes."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        from pyarrow import fs as pafs

        afs, root = arrow
        pafs.copy_files(local, root, destination_filesystem=afs)
        return
    jvm, target, fs = _fs(path)
    for folder, _, names in sorted(os.walk(local)):
        relative = os.path.relpath(folder, local)
        for name in sorted(names):
            where = name if relative == "." else f"{relative}/{name}"
            source = jvm.java.io.FileInputStream(os.path.join(folder, name))
            try:
                out = fs.create(jvm.org.apache.hadoop.fs.Path(target, where), True)
            except Exception:
                source.close()
                raise
            jvm.org.apache.hadoop.io.IOUtils.copyBytes(source, out, 1 << 16, True)  # closes both streams


def write_text(path: str, text: str, s3: Mapping[str, Any] | None = None) -> None:
    """Write ``text`` to ``path`` (s3a://, hdfs://, file:) through the active Spark session's Hadoop
    configuration, so credentials and endpoints are those the Delta tables use."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        afs, where = arrow
        with afs.open_output_stream(where) as out:
            out.write(text.encode("utf-8"))
        return
    _, hadoop_path, fs = _fs(path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(path: str, s3: Mapping[str, Any] | None = None) -> str | None:
    """The text of ``path``, or None when there is no such file."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        from pyarrow import fs as pafs

        afs, where = arrow
        if afs.get_file_info(where).type != pafs.FileType.File:
            return None
        with afs.open_input_stream(where) as stream:
            return bytes(stream.read()).decode("utf-8")
    jvm, hadoop_path, fs = _fs(path)
    if not fs.exists(hadoop_path) or fs.getFileStatus(hadoop_path).isDirectory():
        return None
    stream = fs.open(hadoop_path)
    try:
        data = jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
    finally:
        stream.close()
    return bytes(data).decode("utf-8")


def is_nonempty_dir(path: str, s3: Mapping[str, Any] | None = None) -> bool:
    """``path`` is a folder holding at least one entry."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        from pyarrow import fs as pafs

        afs, where = arrow
        if afs.get_file_info(where).type != pafs.FileType.Directory:
            return False
        return bool(afs.get_file_info(pafs.FileSelector(where, recursive=False)))
    _, hadoop_path, fs = _fs(path)
    return bool(fs.exists(hadoop_path) and fs.getFileStatus(hadoop_path).isDirectory()
                and len(fs.listStatus(hadoop_path)) > 0)


def remove_folder(path: str, s3: Mapping[str, Any] | None = None) -> None:
    """Delete a folder and what it holds (nothing when it is not there)."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        from pyarrow import fs as pafs

        afs, where = arrow
        if afs.get_file_info(where).type == pafs.FileType.Directory:
            afs.delete_dir(where)
        return
    _, hadoop_path, fs = _fs(path)
    fs.delete(hadoop_path, True)


def exists(path: str, s3: Mapping[str, Any] | None = None) -> bool:
    """A file or folder is at ``path``."""
    arrow = _arrow(path, s3)
    if arrow is not None:
        from pyarrow import fs as pafs

        afs, where = arrow
        return bool(afs.get_file_info(where).type != pafs.FileType.NotFound)
    _, hadoop_path, fs = _fs(path)
    return bool(fs.exists(hadoop_path))
