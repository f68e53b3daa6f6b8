"""Small validation helpers shared by the definition objects (pure: no I/O)."""

from __future__ import annotations

import os
import re
import sys
from typing import NoReturn

from pitstop.errors import DefinitionError

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_NAME_LENGTH = 63
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def caller_location() -> str | None:
    """Return "file:line" of the first stack frame outside the pitstop package.

    Used only to say *where* a definition was written in error messages; identity always comes
    from the explicit ``name``, never from file paths or stack frames.
    """
    frame = sys._getframe(1)
    while frame is not None:
        raw = frame.f_code.co_filename
        filename = os.path.abspath(raw)
        if not raw.startswith("<") and not filename.startswith(_PACKAGE_DIR + os.sep) \
                and os.path.basename(filename) != "dataclasses.py":
            return f"{display_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def display_path(filename: str) -> str:
    """A path relative to the working directory when it lies below it, else absolute."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def fail(what: str, message: str, location: str | None) -> NoReturn:
    raise DefinitionError(f"{what}: {message}", location)


def check_identifier(kind: str, value: object, location: str | None, *, what: str | None = None) -> str:
    """Names become SQL columns, Delta table names and Redis keys: ``[a-z][a-z0-9_]*``, no "__"."""
    label = what or kind
    if not isinstance(value, str):
        fail(label, f"name must be a string, got {type(value).__name__} {value!r}", location)
    if not IDENTIFIER.match(value):
        suggestion = re.sub(r"[^a-z0-9_]", "_", value.lower()).strip("_")
        if suggestion and not suggestion[0].isalpha():
            suggestion = f"f_{suggestion}"
        hint = f" (for example {suggestion!r})" if suggestion and IDENTIFIER.match(suggestion) else ""
        fail(label, f"invalid name {value!r}: names become SQL columns, table names and Redis keys, "
                    f"so they must match [a-z][a-z0-9_]* — lower-case letters, digits and '_', "
                    f"starting with a letter{hint}", location)
    if "__" in value:
        fail(label, f"invalid name {value!r}: '__' is reserved as pitstop's separator "
                    f"(view__feature, view__v2); use a single '_'", location)
    if len(value) > MAX_NAME_LENGTH:
        fail(label, f"name {value!r} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}",
             location)
    return value


def check_str(what: str, field: str, value: object, location: str | None, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        fail(what, f"{field} must be a string, got {type(value).__name__} {value!r}", location)
    if not allow_empty and not value.strip():
        fail(what, f"{field} must not be empty", location)
    return value
