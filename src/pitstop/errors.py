"""One error root for everything pitstop raises on purpose.

Every error is either *terminal* (bad input: retrying cannot help — a bad definition, a failed
validation, a stale plan) or *transient* (an outside system failed: Redis or Spark unreachable —
an orchestrator should retry). Messages name the object, the bad value, the place and the fix.
"""

from __future__ import annotations


class PitstopError(Exception):
    """Root of every error pitstop raises on purpose."""

    terminal: bool = True

    @property
    def transient(self) -> bool:
        return not self.terminal


class TerminalError(PitstopError):
    """Bad input or state: do not retry, fix what the message says."""

    terminal = True


class TransientError(PitstopError):
    """An outside system failed (connection, timeout): retrying may succeed."""

    terminal = False


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


class ConsistencyError(TerminalError):
    """Online values disagree with the offline snapshot they were published from."""


class ValidationFailed(TerminalError):
    """A snapshot failed the validation gate: nothing was published and the day is not materialized."""


class UnsupportedDeltaTable(TerminalError):
    """A Delta table needs a reader protocol version or a reader feature that pitstop's Delta log reader (pyarrow,
    no Spark) cannot read correctly; the message names the table, the feature and what to do."""


def reason_of(exc: BaseException) -> str:
    """An error as one reason to show a person: a PitstopError's own message (it names the fix), anything
    else with its type."""
    return str(exc) if isinstance(exc, PitstopError) else f"{type(exc).__name__}: {exc}"
