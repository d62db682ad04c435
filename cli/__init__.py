"""The one ``salesplan`` command line. Commands live in small modules here; each imports the upper layers
(models, training, planning, serving) inside the command body so ``salesplan --help`` stays fast."""

from salesplan.cli.app import app, main

__all__ = ["app", "main"]
