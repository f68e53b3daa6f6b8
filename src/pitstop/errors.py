"""One error root for everything pitstop raises on purpose, and the one exit-code contract.

Every error class says what a process that stops on it exits with (``exit_code``), for the CLI and the
Spark jobs alike (``exit_code_for``):

- 0 ``EXIT_DONE``: done;
- 1 ``EXIT_TRANSIENT``: an outside system failed (Redis unreachable, a Spark job failed): retry;
- 2 ``EXIT_CHECK``: a check ran and found problems (a failed validation gate, online/offline values that
  disagree, a stale plan under ``plan --check``, an unhealthy ``status --check``): do not retry, look;
- 3 ``EXIT_TERMINAL``: bad input or state (a bad definition or argument, a source not ready): do not
  retry, fix what the message says.

Errors carry what they are about as fields (``view``, ``start``/``end``, ``path``) so callers never parse
a message's text. Messages name the object, the bad value, the place and the fix.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

EXIT_DONE = 0
EXIT_TRANSIENT = 1
EXIT_CHECK = 2
EXIT_TERMINAL = 3
NO_RETRY_EXITS = frozenset({EXIT_CHECK, EXIT_TERMINAL})  # an orchestrator fails these at once


class PitstopError(Exception):
    """Root of every error pitstop raises on purpose. ``view``, ``start``/``end`` (a ds range) and ``path``
    (a file or table the error is about, e.g. a result or report) are set where the raiser knows them."""

    exit_code: ClassVar[int] = EXIT_TERMINAL

    def __init__(self, *args: object, view: str | None = None, start: date | None = None,
                 end: date | None = None, path: str | None = None) -> None:
        super().__init__(*args)
        self.view, self.start, self.end, self.path = view, start, end, path

    @property
    def terminal(self) -> bool:
        """Retrying cannot help (exit 2 or 3): fix the input, or look at what the check found."""
        return self.exit_code != EXIT_TRANSIENT

    @property
    def transient(self) -> bool:
        return self.exit_code == EXIT_TRANSIENT


def exit_code_for(exc: BaseException) -> int:
    """The exit code of a process stopped by ``exc``: the error's own for a PitstopError; 1 (transient,
    retry) for anything else, as for an uncaught exception (Python exits 1)."""
    if isinstance(exc, PitstopError):
        return exc.exit_code
    return EXIT_TRANSIENT


class TerminalError(PitstopError):
    """Bad input or state: do not retry, fix what the message says (exit 3)."""

    exit_code = EXIT_TERMINAL


class TransientError(PitstopError):
    """An outside system failed (connection, timeout): retrying may succeed (exit 1)."""

    exit_code = EXIT_TRANSIENT


class CheckFailed(PitstopError):
    """A check ran and found problems (exit 2): nothing is wrong with the input or the machine, but what was
    checked is not as it should be; retrying gives the same answer."""

    exit_code = EXIT_CHECK


class DefinitionError(TerminalError):
    """A feature definition is invalid. ``location`` is "file:line" where known; ``subject`` is the
    (kind, name) of the definition object that refused to be built, when it was one (e.g.
    ("FeatureView", "user_transactions")), so what uses it can be skipped instead of reported again."""

    def __init__(self, message: str, location: str | None = None) -> None:
        self.location = location
        self.detail = message
        self.subject: tuple[str, str] | None = None
        super().__init__(f"{location}: {message}" if location else message)


class DefinitionErrors(TerminalError):
    """Every independent definition error found in one pass, reported together. ``skipped`` lists what was
    not checked because something it uses failed (a check naming a feature of a failed aggregation, a
    training set of a failed view): those are knock-on effects, not mistakes of their own, so they get one
    note instead of an error each."""

    MAX_SKIPPED_SHOWN = 8

    def __init__(self, errors: list[DefinitionError], skipped: list[str] | None = None) -> None:
        self.errors = errors
        self.skipped = list(skipped or [])
        lines = [f"{len(errors)} problem(s) in the feature definitions:"]
        lines += [f"  - {e}" for e in errors]
        if self.skipped:
            shown = self.skipped[:self.MAX_SKIPPED_SHOWN]
            more = len(self.skipped) - len(shown)
            lines.append("  note: not checked, as they use what failed above: " + "; ".join(shown)
                         + (f"; and {more} more" if more else ""))
        super().__init__("\n".join(lines))


class ConfigError(TerminalError):
    """pitstop.yaml or an environment override is invalid or missing."""


class PlanError(TerminalError):
    """The compiled plan cannot be written or read as asked (stale, refused change, bad file)."""


class SetupError(TerminalError):
    """The machine lacks something pitstop needs (Java, the Delta Lake jars, ...)."""


class ConnectionFailed(TransientError):
    """An outside service (Redis, Spark master, object store) could not be reached."""


class SourceError(TerminalError):
    """A source is missing or no longer matches its definition."""


class SourceNotReady(SourceError):
    """A day cannot be computed honestly: its source has not landed, or the day lies before the source's
    first event or the view's start_date (``--force`` computes it anyway)."""


class UsageError(TerminalError):
    """A command or API call was given arguments that cannot work (e.g. --start after --end)."""


class JobFailed(TransientError):
    """A Spark job failed while computing or writing; the tables were restored to their state before the
    run, so retrying (after fixing the cause the message names, if it is in the data) is safe."""


class ConsistencyError(CheckFailed):
    """Online values disagree with the offline snapshot they were published from. ``views``: those that
    disagree."""

    def __init__(self, message: str, *, views: list[str] | None = None) -> None:
        super().__init__(message, view=views[0] if views and len(views) == 1 else None)
        self.views = list(views or [])


class ValidationFailed(CheckFailed):
    """A snapshot failed the validation gate: nothing was published and the day is not materialized.
    ``days``: the failed days; ``version``: the view's version; ``snapshot_version``: the Delta version of
    the snapshot table that holds the rejected snapshot (readable through time travel)."""

    def __init__(self, message: str, *, view: str | None = None, version: int | None = None,
                 days: list[date] | None = None, snapshot_version: int | None = None) -> None:
        self.days = list(days or [])
        super().__init__(message, view=view, start=min(self.days) if self.days else None,
                         end=max(self.days) if self.days else None)
        self.version, self.snapshot_version = version, snapshot_version


class UnsupportedDeltaTable(TerminalError):
    """A Delta table needs a reader protocol version or a reader feature that pitstop's Delta log reader (pyarrow,
    no Spark) cannot read correctly; the message names the table, the feature and what to do."""


def reason_of(exc: BaseException) -> str:
    """An error as one reason to show a person: a PitstopError's own message (it names the fix), anything
    else with its type."""
    return str(exc) if isinstance(exc, PitstopError) else f"{type(exc).__name__}: {exc}"
