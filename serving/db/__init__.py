"""Application database: engine and migrations, ORM tables, repositories (typed dataclasses in and out)."""

__all__: list[str] = []
