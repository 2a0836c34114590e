"""Who may call: roles, the callers they belong to, and the token file that names them.

A token file has one token per line, `TOKEN [ROLE [NAME]]`; lines that start with `#` are
comments. A bare token has full access (the operator role), so files written before roles
existed keep working. The name is what events record as the actor of what a caller did;
without one a token is named by a short fingerprint, never by the token itself.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal", "Role", "TokenTable", "fingerprint", "parse_tokens"]

MAX_NAME_LENGTH = 128


class Role(enum.IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    #: Reads: status, watch, listings, tools.
    VIEWER = 1
    #: A viewer that may also decide approval gates and send signals (when those land).
    APPROVER = 2
    #: Everything: submit, control, roll back, delete.
    OPERATOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the name events record, and what it may do."""

    name: str
    role: Role


#: The caller of a server that authenticates nobody (loopback, or --allow-unauthenticated).
ANONYMOUS = Principal("", Role.OPERATOR)


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenTable(Mapping[str, Principal]):
    """Callers by the SHA-256 of their token: the server keeps no token itself, and a
    lookup by digest tells nothing, by its timing, about the tokens it is not."""

    def __init__(self, entries: Mapping[str, Principal]) -> None:
        self._by_digest = dict(entries)

    def __getitem__(self, digest: str) -> Principal:
        return self._by_digest[digest]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_digest)

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str) -> Principal | None:
        return self._by_digest.get(fingerprint(token))


def parse_tokens(lines: Iterable[str], source: str) -> TokenTable:
    """Raises ValueError naming `source` and the line of the first problem (never the
    token): an unknown role, a name too long, a token given twice."""
    entries: dict[str, Principal] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):  # a token may hold '#': only whole lines
            continue
        token, role_text, name = [*line.split(None, 2), "", ""][:3]
        where = f"{source}, line {number}"
        try:
            role = Role[role_text.upper()] if role_text else Role.OPERATOR
        except KeyError:
            roles = ", ".join(r.label for r in Role)
            raise ValueError(f"{where}: unknown role {role_text[:32]!r} (roles: {roles})") from None
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise ValueError(f"{where}: a name is at most {MAX_NAME_LENGTH} printable characters")
        digest = fingerprint(token)
        if digest in entries:
            raise ValueError(f"{where}: this token is already listed")
        entries[digest] = Principal(name or f"token:{digest[:8]}", role)
    return TokenTable(entries)
