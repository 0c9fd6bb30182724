"""Build hook: the wheel carries the Alembic migrations, so an installed ``nas db upgrade`` finds them.

The scripts stay in the repository's top-level ``migrations/`` directory (the layout the design fixes); building
the package copies them into ``nas_service/_migrations`` inside the wheel (never into the source tree), where
:func:`nas_service.storage.schema.migrations_dir` looks when there is no checkout. Everything else is in
``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class BuildWithMigrations(build_py):
    """``build_py`` plus a copy of ``migrations/`` as ``nas_service/_migrations`` in the build directory."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "nas_service" / "_migrations"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithMigrations})
