"""Where user-supplied data paths may point: under the configured data roots, nowhere else.

A job's ``proxy.data_path`` is read by the service's own processes. Without a rule, ``/etc/passwd`` is read as an
``npz`` file and the error tells the user whether the path exists. So a path must resolve (symlinks and ``..``
followed first, relative paths taken from the first root) to the root itself or something below it; anything
else is refused with one message that does not depend on whether the path exists.

Roots come from ``NAS_DATA_ROOTS`` (paths separated by ``os.pathsep``, ``:`` on Linux); by default the
``datasets`` folder of the data dir (``~/.nas-service/datasets``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nas_service.limits import LimitError

#: The one message for a path outside the roots, whether or not it exists.
OUTSIDE_ROOTS = "must be a path under the server's data roots (NAS_DATA_ROOTS)"


def parse_roots(text: str) -> list[Path]:
    """``NAS_DATA_ROOTS`` text as resolved paths (empty entries ignored)."""
    return [Path(part).expanduser().resolve() for part in text.split(os.pathsep) if part.strip()]


def resolve_data_path(path: str, roots: Sequence[Path], field: str = "proxy.data_path") -> Path:
    """The real path of ``path`` when it lies under one of ``roots``.

    Args:
        path: The user's path (absolute, or relative to the first root).
        roots: The allowed roots.
        field: Where the request names it, for the error.

    Raises:
        LimitError: Outside every root, unresolvable (a symlink loop), or no roots configured; one message.
    """
    if not roots or not path or "\x00" in path:
        raise LimitError(field, OUTSIDE_ROOTS)
    real_roots = [Path(r).resolve() for r in roots]
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name too long: same answer as outside
        raise LimitError(field, OUTSIDE_ROOTS) from None
    if not any(real == root or real.is_relative_to(root) for root in real_roots):
        raise LimitError(field, OUTSIDE_ROOTS)
    return real
