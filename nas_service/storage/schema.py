"""Schema management: Alembic upgrades and the start-up check.

The Alembic scripts live in the top-level ``migrations/`` directory of the repository (next to
``alembic.ini``), and an installed wheel carries a copy as ``nas_service/_migrations``; :func:`migrations_dir`
finds them (``NAS_MIGRATIONS_DIR``, ``<repo>/migrations``, the packaged copy). Embedded mode (SQLite) may
upgrade itself on first start; a server database (Postgres) never does: it refuses to start with a
:class:`~nas_service.storage.errors.SchemaOutOfDate` that names the command ``nas db upgrade``.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from nas_service.storage.errors import SchemaOutOfDate, StorageError

UPGRADE_COMMAND = "nas db upgrade"


def migrations_dir() -> Path:
    """The Alembic script directory; raises ``FileNotFoundError`` naming every place tried.

    Looked up in order: ``NAS_MIGRATIONS_DIR``; ``<repo>/migrations`` next to this package (a source checkout
    or an editable install); ``nas_service/_migrations`` inside the installed package (a wheel: ``pip install .``
    copies ``migrations/`` there, see ``setup.py``).
    """
    env = os.environ.get("NAS_MIGRATIONS_DIR")
    package = Path(__file__).resolve().parents[1]
    candidates = [Path(env)] if env else [package.parent / "migrations", package / "_migrations"]
    for path in candidates:
        if (path / "env.py").is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"Alembic migrations not found (tried {tried}; each should hold env.py). Reinstall nas-service, or point "
        "NAS_MIGRATIONS_DIR at its migrations/ directory."
    )


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for ``url`` (``%`` escaped for configparser)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def is_embedded(url: str) -> bool:
    """True for SQLite (the embedded, single-host mode)."""
    return url.startswith("sqlite")


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (creating the tables on an empty database)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``base`` drops every table)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision stamped in the database, or ``None`` for an empty (unmigrated) database."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # driver errors: unreachable server, bad file
        raise StorageError(f"cannot read the schema revision: {exc}") from exc
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the repository always has a revision
        raise StorageError("no Alembic revision found")
    return head


def ensure_schema_current(url: str, auto_upgrade: bool = False) -> None:
    """Check the schema is at head; upgrade an embedded (SQLite) database when ``auto_upgrade`` is set.

    Raises:
        SchemaOutOfDate: The schema is behind (or unknown) and may not be upgraded here; the message names
            the exact command to run.
    """
    current, head = current_revision(url), head_revision()
    if current == head:
        return
    if auto_upgrade and is_embedded(url):
        upgrade(url)
        return
    raise SchemaOutOfDate(
        f"database schema is at revision {current or '<empty>'} but this nas-service needs {head}; "
        f"run `{UPGRADE_COMMAND}` (with NAS_DATABASE_URL set to this database) and start again"
    )
