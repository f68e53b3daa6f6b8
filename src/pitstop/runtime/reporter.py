"""The one reporter: every message and every progress report of the CLI, the jobs and the runtime.

Results go to stdout (``out``); messages (``info``, ``warn``, ``error``) and progress go to stderr. Long work
reports progress through ``progress(...)``: in a terminal (stderr is a TTY) a live bar with the rows done,
rows/s and the ETA (rich); elsewhere (a log file, an Airflow task log, a pipe) one plain line per step, e.g.

    spend: chunk 2/4 (2026-03-06..2026-03-08) done; 7,912 rows, 3,204 rows/s, ETA 5s

Streams are looked up when written to (so a redirected ``sys.stdout`` is honoured). rich is imported only
when a live bar starts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class Progress:
    """One piece of long work of ``total`` steps: call ``step`` after each with the rows it produced."""

    def __init__(self, reporter: Reporter, title: str, total: int, unit: str) -> None:
        self.reporter, self.title, self.total, self.unit = reporter, title, total, unit
        self.done, self.rows = 0, 0
        self.began = time.monotonic()
        self._live: RichProgress | None = None
        self._task: TaskID | None = None

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / max(time.monotonic() - self.began, 1e-9)

    @property
    def eta(self) -> float:
        """Seconds left, from the mean time per step so far."""
        elapsed = time.monotonic() - self.began
        return elapsed / self.done * (self.total - self.done) if self.done else 0.0

    def step(self, label: str, rows: int = 0) -> None:
        """A step is done (``label`` names it, e.g. its days); ``rows``: what it produced."""
        self.done += 1
        self.rows += rows
        if self._live is not None and self._task is not None:
            self._live.update(self._task, completed=self.done, rows=self.rows, label=label)
            return
        self.reporter.info(f"{self.title}: {self.unit} {self.done}/{self.total} ({label}) done; {self.rows:,} rows, "
                           f"{self.rate:,.0f} rows/s, ETA {self.eta:.0f}s")


class Reporter:
    """Where pitstop's output goes. ``live``: draw progress bars (default: when stderr is a terminal and
    ``TERM`` is not ``dumb``); ``stdout``/``stderr``: fixed streams instead of the process's current ones."""

    def __init__(self, *, live: bool | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self._live_choice, self._stdout, self._stderr = live, stdout, stderr
        self._active: RichProgress | None = None

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    @property
    def live(self) -> bool:
        if self._live_choice is not None:
            return self._live_choice
        isatty = getattr(self.stderr, "isatty", None)
        return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"

    def out(self, text: str = "") -> None:
        """A result (what a command is run for): stdout."""
        print(text, file=self.stdout, flush=True)

    def info(self, text: str) -> None:
        """A message about the work: stderr (above a live bar, when one is drawn)."""
        if self._active is not None:
            self._active.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.stderr, flush=True)

    def warn(self, text: str) -> None:
        self.info(f"warning: {text}")

    def error(self, text: str) -> None:
        self.info(f"error: {text}")

    @contextmanager
    def progress(self, title: str, total: int, unit: str = "step") -> Iterator[Progress]:
        """Report ``total`` steps of long work: a live bar in a terminal, a plain line per step otherwise."""
        progress = Progress(self, title, total, unit)
        if not self.live or self._active is not None:
            yield progress
            return
        bar = _rich_progress(self.stderr)
        task = bar.add_task(title, total=total, rows=0, label="", unit=unit)
        progress._live, progress._task = bar, task
        self._active = bar
        try:
            with bar:
                yield progress
        finally:
            self._active = None


def _rich_progress(stream: TextIO) -> RichProgress:
    """title, bar, steps done, rows, rows/s, ETA (from the mean step time: Spark steps take seconds to minutes,
    longer than rich's own speed window)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            elapsed = task.elapsed or 0.0
            rows: Any = task.fields.get("rows", 0)
            return Text(f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 and rows else "- rows/s")

    class Eta(ProgressColumn):
        def render(self, task: Task) -> Text:
            elapsed, done, total = task.elapsed or 0.0, task.completed, task.total or 0
            if task.finished:
                return Text("done")
            return Text(f"ETA {elapsed / done * (total - done):.0f}s" if done else "ETA -")

    console = Console(file=stream, force_terminal=True)
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.fields[unit]} {task.completed:.0f}/{task.total:.0f}"),
                    TextColumn("{task.fields[rows]:,} rows"), Rate(), Eta(), TimeElapsedColumn(),
                    TextColumn("{task.fields[label]}"), console=console, transient=False)
