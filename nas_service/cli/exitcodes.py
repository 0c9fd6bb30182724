"""Exit codes of every ``nas`` command (the README's table), and how to spell ``nas`` in a printed hint.

====  ==========================================================================================
0     ok
1     the job or the server failed (a job that did not complete, a 5xx, a refused transition)
2     usage or validation error; the message names the field
3     not found (job, trial, space)
4     cannot connect to the controller
5     authentication: the token is missing, wrong or lacks the scope
6     ``nas serve`` / ``nas dispatcher`` cannot start (port in use, schema behind, start-up failed)
130   interrupted (Ctrl-C)
====  ==========================================================================================
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONNECTION = 4
EXIT_AUTH = 5
EXIT_CANNOT_START = 6
EXIT_INTERRUPTED = 130


def nas_command(argv0: str | None = None) -> str:
    """How to run this ``nas`` from the shell that started it, for hints that must work as printed.

    ``nas`` when that name on the ``PATH`` is this very program; otherwise the path it was started by
    (``.venv/bin/nas`` after ``make demo`` without an activated venv), or ``python -m nas_service.cli.main``.

    Args:
        argv0: The program path (default ``sys.argv[0]``).
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    program = Path(argv0)
    if program.name != "nas" or not program.is_file():
        return f"{sys.executable} -m nas_service.cli.main"
    found = shutil.which("nas")
    if found is not None and os.path.samefile(found, program):
        return "nas"
    return argv0 if "/" in argv0 else str(program.resolve())
