"""Logging of the server processes: one line per record, each with a timestamp, level and logger name.

``nas serve`` hands :func:`server_log_config` to uvicorn, so the API's, uvicorn's and the embedded dispatcher's
records (``nas_service.*``, ``workers.*``, through the root logger) all read
``2026-12-03 07:40:01,123 INFO workers.dispatcher: dispatcher ... took job 3``.
"""

from __future__ import annotations

from typing import Any

#: The format of every server log line.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ACCESS_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(client_addr)s - "%(request_line)s" %(status_code)s'


def server_log_config(level: str = "info") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` mapping for uvicorn's ``log_config``: timestamps on every line.

    Args:
        level: The level of the root, ``nas_service`` and uvicorn loggers (``debug``, ``info``, ...).
    """
    upper = level.upper()
    stderr = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {"format": LOG_FORMAT},
            "access": {"()": "uvicorn.logging.AccessFormatter", "fmt": _ACCESS_FORMAT, "use_colors": False},
        },
        "handlers": {
            "default": {**stderr, "formatter": "default"},
            "access": {**stderr, "formatter": "access"},
        },
        "root": {"handlers": ["default"], "level": upper},
        "loggers": {
            "uvicorn": {"level": upper},  # through the root's handler
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["access"], "level": upper, "propagate": False},
        },
    }
