"""Python client for the Executor gRPC service."""
