"""Read-only JSON values: what tools receive as arguments and what outputs become.

A tool gets the plan's own argument values, and later steps get earlier outputs through
references; if either could be changed in place, one tool could rewrite the stored plan
or another step's result. `freeze` makes a deep read-only copy once (at submission for
arguments, when an attempt completes for outputs), so the hot path shares values instead
of copying them per attempt. `copy()` and `copy.deepcopy` give a tool a mutable copy.
"""

from __future__ import annotations

import copy
from typing import Any, NoReturn


class NotJson(TypeError):
    """The value is not JSON (a type other than dict, list, str, int, float, bool, None,
    or a key that is not a string)."""


def _refuse(*_: Any, **__: Any) -> NoReturn:
    raise TypeError("step arguments and outputs are read-only: copy them to change them")


class FrozenDict(dict[str, Any]):
    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def copy(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def copy(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __copy__(self) -> list[Any]:
        return list(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


_SCALARS = (str, int, float, bool, type(None))


def freeze(value: Any) -> Any:
    """A deep read-only copy of the JSON value `value` (values already frozen are shared).

    Raises NotJson for anything that is not JSON.
    """
    kind = type(value)
    if kind is FrozenDict or kind is FrozenList or kind in _SCALARS:
        return value
    if isinstance(value, dict):
        for key in value:
            if type(key) is not str:
                raise NotJson(f"a key of type {type(key).__name__}")
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList([freeze(v) for v in value])
    if isinstance(value, _SCALARS):  # their subclasses: IntEnum, a str subclass
        return value
    raise NotJson(f"a value of type {kind.__name__}")
