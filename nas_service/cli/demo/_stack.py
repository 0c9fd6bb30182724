"""The embedded stack: settings and data dir, the database, the API in a thread, the dispatcher with its Ray."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_service.cli.demo._options import DemoError, DemoOptions

if TYPE_CHECKING:
    from nas_service.client import Client
    from nas_service.settings import Settings


@dataclass
class EmbeddedStack:
    """The controller API (uvicorn in a daemon thread) and the embedded dispatcher over one storage.

    Attributes:
        settings: The demo's settings (see :func:`resolve_settings`).
        storage: The open storage, once :meth:`open_storage` ran.
        server: The uvicorn server, while the API serves.
        thread: The thread the API serves in.
        dispatcher: The embedded dispatcher's handle (``stop``, ``is_alive``, ``error``), while it runs.
        url: The API's base URL, once it accepts connections.
    """

    settings: Settings
    storage: Any = None
    server: Any = None
    thread: threading.Thread | None = None
    dispatcher: Any = None
    url: str = ""

    def open_storage(self) -> None:
        """Open the database, upgrading an embedded (SQLite) schema to head."""
        from nas_service.storage import open_storage
        from nas_service.storage.schema import is_embedded

        url = self.settings.resolved_database_url()
        self.storage = open_storage(url, check_schema=True, auto_upgrade=is_embedded(url))

    def start_api(self, timeout_s: float = 30.0) -> None:
        """Serve the API on ``settings.host:settings.port``; returns once it accepts connections.

        Args:
            timeout_s: How long start-up may take.

        Raises:
            DemoError: The server could not listen or did not start in time.
        """
        import uvicorn

        from api.app import create_app

        app = create_app(settings=self.settings, storage=self.storage)
        app.state.sse_poll_s = 0.25  # trials change every few seconds: follow them closely
        # No log config of uvicorn's own: its records reach the demo's log file, never the terminal. An open
        # dashboard holds an event stream: shutting down waits for it 2 s at most.
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        # Off the main thread uvicorn installs no signal handlers: Ctrl-C stays with the command.
        self.thread = threading.Thread(target=self.server.run, name="nas-demo-api", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise DemoError(f"the API could not listen on {self.settings.host}:{self.settings.port}")
            if time.monotonic() > deadline:
                raise DemoError(f"the API did not start within {timeout_s:g} s")
            time.sleep(0.02)
        self.url = f"http://{self.settings.host}:{self.settings.port}"

    def start_dispatcher(self) -> None:
        """Start the embedded dispatcher (and with it the local Ray) in this process.

        Raises:
            DemoError: ``workers.dispatcher`` cannot be imported (the workers' extras are not installed).
        """
        try:
            from workers.dispatcher import start_embedded
        except ImportError as exc:
            raise DemoError(f"the embedded dispatcher is not available ({exc})") from None
        self.dispatcher = start_embedded(self.settings, self.storage)

    def dispatcher_error(self) -> str | None:
        """Why the dispatcher stopped on its own, if it did."""
        handle = self.dispatcher
        if handle is None or handle.is_alive():
            return None
        return f"the dispatcher stopped: {handle.error}" if handle.error else "the dispatcher stopped"

    def stop_dispatcher(self) -> None:
        """Stop the dispatcher (it gives its held jobs back and shuts its Ray down)."""
        handle, self.dispatcher = self.dispatcher, None
        if handle is not None:
            handle.stop()

    def stop_api(self) -> None:
        """Stop serving and close the storage."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.storage is not None:
            self.storage.close()
        self.server = self.thread = self.storage = None


def resolve_settings(opts: DemoOptions) -> Settings:
    """The demo's settings: always embedded, in its own data dir (``<data dir>/demo`` unless ``--data-dir``).

    Its own SQLite database keeps the demo apart from the user's jobs: the embedded dispatcher claims any
    queued job of its database, and a ``nas serve`` on the main database could claim the demo's job. Ray is
    local and in-process whatever ``NAS_RAY_ADDRESS`` says.

    Args:
        opts: The command line (``--data-dir``, ``--port``).

    Returns:
        The user's settings with the demo's data dir, database, port and no Ray address or token.

    Raises:
        DemoError: ``--port`` is in use.
    """
    from nas_service.settings import get_settings

    base = get_settings()
    data_dir = (opts.data_dir or base.data_dir / "demo").expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a busy --port fails now, not after a minute of start-up
        try:
            probe.bind(("127.0.0.1", opts.port or 0))
        except OSError:
            raise DemoError(f"port {opts.port} on 127.0.0.1 is in use; pick another --port") from None
        port = int(probe.getsockname()[1])
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": f"sqlite:///{data_dir / 'nas.db'}",
            "ray_address": None,
            "token": None,
            "host": "127.0.0.1",
            "port": port,
            "api_url": f"http://127.0.0.1:{port}",
        }
    )


def read_admin_token(settings: Settings) -> tuple[str, Path]:
    """The embedded admin token (the API writes it on its first start in a data dir) and its file.

    Raises:
        DemoError: There is no token file.
    """
    path = Path(settings.data_dir) / "admin-token"
    try:
        return path.read_text().strip(), path
    except OSError:
        raise DemoError(f"no admin token at {path} (the API creates it on first start)") from None


def log_to_file(path: Path) -> logging.FileHandler:
    """Send every log record (the API's, the dispatcher's, with tracebacks) to ``path``, not the terminal.

    Returns:
        The handler added to the root logger (the caller removes and closes it).
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO) if root.level else logging.INFO)
    for chatty in ("httpx", "alembic"):  # a line per request or migration step says nothing here
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler


def shutdown(stack: EmbeddedStack, client: Client | None) -> None:
    """Stop everything in reverse order; a second Ctrl-C during the shutdown does not skip a step."""
    for step in (stack.stop_dispatcher, stack.stop_api, client.close if client else None):
        if step is None:
            continue
        try:
            step()
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                step()
        except Exception:  # noqa: BLE001, S110 - the shutdown goes on; the result is already decided
            pass
