"""``nas demo``: kept for ``main.py``'s ``*_cmd`` convention; the command lives in :mod:`nas_service.cli.demo`."""

from nas_service.cli.demo import register

__all__ = ["register"]
