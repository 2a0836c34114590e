"""Executor server."""
