"""Run the Alembic migrations from code or the command line (`python -m hydroponics.db.migrate`)."""

import argparse
import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_dir() -> Path:
    """MIGRATIONS_DIR when set (the deployed migrate function), else the repo's migrations/ folder."""
    configured = os.environ.get("MIGRATIONS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """A Config for the migrations folder; without `url`, env.py reads the platform settings."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    """Migrate the database down to `revision` ("base" drops the whole schema)."""
    command.downgrade(alembic_config(url), revision)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hydroponics.db.migrate", description=__doc__)
    parser.add_argument("direction", choices=["upgrade", "downgrade"])
    parser.add_argument("revision", nargs="?", help='target revision (default: "head" up, "-1" down)')
    parser.add_argument("--url", help="database URL (default: DATABASE_URL / DB_SECRET_ARN settings)")
    args = parser.parse_args(argv)
    if args.direction == "upgrade":
        upgrade(args.url, args.revision or "head")
    else:
        downgrade(args.url, args.revision or "-1")


if __name__ == "__main__":
    main()
