"""Helpers of the integration tests: test tools, event checks and subprocess plumbing."""
