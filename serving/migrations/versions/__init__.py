"""Revisions, one file each, named ``NNNN_<what>.py``."""

__all__: list[str] = []
