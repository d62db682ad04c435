"""``python -m salesplan`` is the same as the ``salesplan`` command."""

from salesplan.cli import main

main()
