"""The `executor` command line (see :mod:`executor_client.cli.main`)."""

from executor_client.cli.main import cli, main

__all__ = ["cli", "main"]
