"""Command-line commands, one module each (see :mod:`appariement.cli`)."""
