"""Revisions, one file each, named ``NNNN_<what>.py``."""
