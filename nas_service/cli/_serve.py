"""What ``nas serve`` does before and around uvicorn: the port check, Ray's token authentication, timestamped
logs and a clean shutdown on SIGTERM.

Ray's authentication, decided here so that Ray neither warns nor writes ``~/.ray/auth_token``:

* ``RAY_AUTH_MODE`` set in the environment wins, untouched (a cluster needs the same mode everywhere).
* Otherwise, with the embedded in-process Ray (no ``NAS_RAY_ADDRESS``): token authentication on, with a token of
  this controller's own in ``<data_dir>/ray-auth-token`` (mode 600, ``RAY_AUTH_TOKEN_PATH``): the local Ray listens
  on the machine's address, and without a token anyone who can reach it could run code. Its workers are
  children of this process and inherit the setting.
* Otherwise (joining a cluster at ``NAS_RAY_ADDRESS`` without ``RAY_AUTH_MODE``): left to Ray, which then uses its
  own defaults and says so; set ``RAY_AUTH_MODE`` as the cluster was started.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

RAY_TOKEN_FILE = "ray-auth-token"


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served (in use, not an address here), or ``None`` when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def configure_ray_auth(data_dir: Path, ray_address: str | None, environ: MutableMapping[str, str]) -> str:
    """Decide Ray's token authentication before Ray starts (see the module docstring); returns what was chosen.

    Args:
        data_dir: The controller's data directory (the embedded Ray's token file goes there).
        ray_address: ``NAS_RAY_ADDRESS`` (``None``: the embedded in-process Ray).
        environ: The environment to read and update (``os.environ``).
    """
    if "RAY_AUTH_MODE" in environ:
        return f"Ray authentication: RAY_AUTH_MODE={environ['RAY_AUTH_MODE']} (from the environment)"
    if ray_address:
        return "Ray authentication: left to the cluster at NAS_RAY_ADDRESS (set RAY_AUTH_MODE as it was started)"
    path = Path(data_dir) / RAY_TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    environ["RAY_AUTH_MODE"] = "token"
    environ["RAY_AUTH_TOKEN_PATH"] = str(path)
    return f"Ray authentication: token, kept in {path}"


def make_server(config: Any) -> Any:
    """A uvicorn server that keeps SIGTERM/SIGINT for itself once the app has started.

    Starting the embedded dispatcher runs ``ray.init``, which installs a SIGTERM handler that raises
    ``SystemExit`` from inside the event loop (a traceback instead of a shutdown); after start-up the server's own
    graceful handler is put back.
    """
    import uvicorn

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, self.handle_exit)

    return _Server(config)
