"""Alembic migrations of the application database (a package so it ships with ``serving``)."""

__all__: list[str] = []
