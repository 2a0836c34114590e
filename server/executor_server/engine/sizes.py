"""The size of a JSON value, measured with a budget: the walk stops as soon as the value is
known to be too large or too deep, so measuring costs at most what the budget allows."""

from __future__ import annotations

from typing import Any

from executor_server.domain.limits import MAX_JSON_DEPTH


class NotJson(ValueError):
    """The value has a part with no JSON form."""


class TooLarge(ValueError):
    """The value's JSON text is larger than the budget."""


class TooDeep(ValueError):
    """The value nests deeper than MAX_JSON_DEPTH."""


def json_size(value: Any, budget: int, max_depth: int = MAX_JSON_DEPTH) -> int:
    """About how many bytes `value`'s compact JSON text takes (exact for ASCII text).

    Raises NotJson, TooLarge (past `budget` bytes) or TooDeep (past `max_depth` levels).
    """
    left = _walk(value, budget, max_depth)
    return budget - left


_KINDS = (str, dict, list, bool, int, float)


def _walk(value: Any, left: int, depth: int) -> int:
    kind = type(value)
    if kind not in _KINDS and value is not None:
        # A subclass (a str enum, an OrderedDict) counts as what it extends.
        kind = next((k for k in _KINDS if isinstance(value, k)), kind)
    if kind is str:
        left -= (len(value) if value.isascii() else len(value.encode())) + 2
    elif kind is dict:
        if depth == 0:
            raise TooDeep
        left -= 2
        for key, item in value.items():
            if type(key) is not str:
                raise NotJson
            left = _walk(item, left - len(key) - 4, depth - 1)
    elif kind is list:
        if depth == 0:
            raise TooDeep
        left -= 2
        for item in value:
            left = _walk(item, left - 1, depth - 1)
    elif value is None or kind is bool or kind is int or kind is float:
        left -= 8
    else:
        raise NotJson
    if left < 0:
        raise TooLarge
    return left
