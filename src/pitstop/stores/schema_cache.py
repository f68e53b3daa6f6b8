"""Source column types for `pitstop plan`, kept between runs while the source's files are unchanged.

Reading a parquet source's schema imports pyarrow's dataset module, which imports pandas: about a second
before anything is read. `pitstop plan` with nothing changed should answer in well under that, so the types
read by ``source_schema.read_source_schema`` are kept in ``<repo>/.pitstop/cache/source-schemas.json``,
stamped with every file of the source (relative name, size, modification time; for Delta, the files of
``_delta_log``), the pyarrow version and the reading code (the modules of ``pitstop.stores``). Any added,
removed, rewritten or touched file, another pyarrow or changed reading code reads the source again. A cache
that cannot be read or written is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pitstop.stores import source_schema

CACHE_FILE = "source-schemas.json"


def _stamp(local: Path, fmt: str) -> str | None:
    """A digest of everything the schema read depends on, or None when the source cannot be stamped."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha1()
    for module in sorted(Path(source_schema.__file__).parent.glob("*.py")):  # the reader and whatever it calls
        digest.update(module.read_bytes())
    try:
        digest.update(version("pyarrow").encode())
    except PackageNotFoundError:
        digest.update(b"-")
    root = local / "_delta_log" if fmt == "delta" else local
    try:
        if root.is_file():
            stat = root.stat()
            digest.update(f"{root.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            return digest.hexdigest()
        if not root.is_dir():
            return None
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                stat = path.stat()
                digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    except OSError:
        return None
    return digest.hexdigest()


def read_source_schema(path: str, fmt: str, repo: Path, cache_dir: Path) -> dict[str, str] | None:
    """``source_schema.read_source_schema``, answered from the cache while the source's files are unchanged."""
    local = Path(path) if Path(path).is_absolute() else repo / path
    stamp = None if "://" in path or not local.exists() else _stamp(local, fmt)
    if stamp is None:
        return source_schema.read_source_schema(path, fmt, repo)
    key = f"{fmt}:{local.resolve()}"
    cache = cache_dir / CACHE_FILE
    try:
        loaded = json.loads(cache.read_text())
        entries = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        entries = {}
    entry = entries.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("schema"), dict):
        return {str(k): str(v) for k, v in entry["schema"].items()}
    schema = source_schema.read_source_schema(path, fmt, repo)
    if schema is not None:
        entries[key] = {"stamp": stamp, "schema": schema}
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
            tmp.replace(cache)
        except OSError:
            pass  # a read-only repository: read again next time
    return schema
