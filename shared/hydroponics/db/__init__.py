"""PostgreSQL access: the engine/session factory, the table models and migrations."""
