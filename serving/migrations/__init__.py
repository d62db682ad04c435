"""Alembic migrations of the application database (a package so it ships with ``serving``)."""
