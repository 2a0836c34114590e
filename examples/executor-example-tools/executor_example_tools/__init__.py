"""Example third-party tools for the Executor.

A package becomes a tool provider by exposing tool classes (or instances) through the
`executor.tools` entry-point group, each entry named exactly like its tool (see this
package's pyproject.toml). The server builds a class with no arguments, so a tool must not
need any; it imports only the server's public tool protocol.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from executor_server.domain.status import ExecutionErrorType
from executor_server.tools.protocol import ToolContext, ToolError, ToolSpec

__all__ = ["Uppercase", "WordCount"]

JsonObject = dict[str, Any]


class WordCount:
    """Counts the words, lines and characters of a text."""

    spec = ToolSpec(
        name="example.wordcount",
        title="Word count",
        description="Counts the words, lines and characters of `text`, like `wc`.",
        input_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"text": {"type": "string", "description": "The text to count."}},
            "required": ["text"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "words": {"type": "integer", "minimum": 0},
                "lines": {"type": "integer", "minimum": 0},
                "characters": {"type": "integer", "minimum": 0},
            },
            "required": ["words", "lines", "characters"],
            "additionalProperties": False,
        },
        read_only=True,
        idempotent=True,
        default_timeout=timedelta(seconds=5),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        text = str(arguments["text"])
        return {
            "words": len(text.split()),
            "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
            "characters": len(text),
        }


class Uppercase:
    """Upper-cases a text; refuses an empty one (a non-retryable TOOL_FAILED)."""

    spec = ToolSpec(
        name="example.uppercase",
        title="Uppercase",
        description="Returns `text` in upper case. An empty text fails the step.",
        input_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        output_schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        read_only=True,
        idempotent=True,
        default_timeout=timedelta(seconds=5),
    )

    async def invoke(self, arguments: JsonObject, context: ToolContext) -> Any:
        text = str(arguments["text"])
        if not text:
            raise ToolError(
                "nothing to upper-case: `text` is empty",
                error_type=ExecutionErrorType.TOOL_FAILED,
                retryable=False,
            )
        return {"text": text.upper()}
