"""Alembic environment: which database to migrate and which models the schema must match."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import URL, Connection, create_engine, make_url, pool, text

from hydroponics.db.models import Base, is_readings_partition

config = context.config
target_metadata = Base.metadata

# Serialises concurrent deploys: the second migrate step waits, then finds nothing to do.
MIGRATION_LOCK_ID = 0x68796472  # "hydr"

if config.config_file_name is not None and config.file_config.has_section("loggers"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate ignores readings' partitions: migrations and ensure_readings_partitions() own them."""
    return not (type_ == "table" and is_readings_partition(name))


def _url() -> URL:
    """The Config's sqlalchemy.url when a caller set one, else the platform settings."""
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return make_url(configured).set(drivername="postgresql+pg8000")
    from hydroponics.db.engine import database_url
    from hydroponics.settings import get_settings

    return database_url(get_settings())


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_name=include_name,
        compare_type=True,
        compare_server_default=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (`alembic upgrade head --sql`)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over the caller's connection (config.attributes["connection"]) or a fresh one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
