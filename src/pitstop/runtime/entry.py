"""The one entry point of every pitstop process (the CLI and the Spark jobs of jobs/): argument parsing and
the exit-code contract (``pitstop.errors``: 0 done, 1 transient, 2 a check found problems, 3 terminal).

Light on purpose: imported before any command runs, it imports neither Spark nor the plan compiler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from pitstop.errors import EXIT_DONE, EXIT_TERMINAL, PitstopError
from pitstop.runtime.reporter import Reporter

EXIT_CODES_HELP = """\
exit codes:
  0  done
  1  transient error: Redis unreachable, a Spark job failed (retry)
  2  a check found problems: a failed validation gate, online and offline
     values that disagree, a stale plan under --check, an unhealthy
     status --check, a failed doctor check (do not retry)
  3  terminal error: bad input, arguments or definitions, a source not
     ready, a refused change (fix it; do not retry)"""


class Parser(argparse.ArgumentParser):
    """argparse with the exit-code contract: a command-line mistake is bad input, exit 3 (argparse's own 2
    means "a check found problems" here). Subcommand parsers are of this class too. The description and
    the epilog are shown as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_TERMINAL, f"{self.prog}: error: {message}\n")


def run(body: Callable[[], int | None], reporter: Reporter) -> int:
    """Run a command body; a PitstopError is reported on one ``error: ...`` line and exits with its class's
    code. Any other exception propagates (a bug: its traceback is wanted; Python exits 1, retried)."""
    try:
        code = body()
    except PitstopError as exc:
        reporter.error(str(exc))
        return exc.exit_code
    return EXIT_DONE if code is None else code
