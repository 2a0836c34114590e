"""Operator settings of the built-in tools, and how a tool receives them.

Tools are built by the registry with no arguments, so third-party plugins stay trivial to
write. A tool that needs the operator's choices (the HTTP network policy, whether
`command.run` may run at all) also implements `ConfigurableTool.configure(settings)`; the
registry calls it right after building the tool, before the server serves. This keeps one
construction path for built-ins and plugins (both come through entry points, so the
operator's allow/deny-by-name applies to all alike), keeps configuration in one immutable
value the wiring builds from the CLI, and lets a test or an embedder construct a tool
directly with its settings (`HttpRequest(HttpSettings(...))`).

A tool that must not be offered under the given settings raises `ToolDisabled` from
`configure`: the registry then leaves it out (it is not listed and plans naming it are
refused as using an unknown tool) and records why in `ToolRegistry.disabled`, which is not
an error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "CommandSettings",
    "ConfigurableTool",
    "FileSettings",
    "HttpSettings",
    "NetworkPolicy",
    "ToolDisabled",
    "ToolSettings",
]

MiB = 1024 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ToolDisabled(Exception):
    """Raised by `configure` when the settings do not allow the tool to be offered."""


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Which outbound addresses a tool may connect to.

    Rules, first match wins:
    1. a host name, or any address it resolves to, on `deny` is refused;
    2. a host name on `allow` is permitted; so is an address on `allow`;
    3. otherwise only globally routable unicast addresses are permitted, unless
       `allowlist_only`, which refuses everything not allowed by name or network.

    So by default private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local
    (169.254/16 with the cloud metadata endpoints, fe80::/10), CGNAT, multicast, reserved
    and unspecified addresses are refused. A host entry is a name (`api.example.com`), a
    wildcard for its subdomains (`*.example.com`), or an address or CIDR network
    (`127.0.0.1`, `10.0.0.0/8`, `::1`). Names match the URL's host; networks match every
    address the host resolves to, and all of them must pass.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allowlist_only: bool = False
    _allow_nets: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _deny_nets: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _allow_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _deny_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Raises ValueError for an entry that is neither a network nor a host name."""
        allow_nets, allow_names = _split_entries(self.allow)
        deny_nets, deny_names = _split_entries(self.deny)
        object.__setattr__(self, "_allow_nets", allow_nets)
        object.__setattr__(self, "_allow_names", allow_names)
        object.__setattr__(self, "_deny_nets", deny_nets)
        object.__setattr__(self, "_deny_names", deny_names)

    def refusal(self, host: str, addresses: Iterable[IPAddress]) -> str | None:
        """Why a connection to `host`, resolved to `addresses`, is refused; None if it is
        permitted. Every address must pass: the connection may use any of them."""
        name = host.rstrip(".").lower()
        if any(_name_matches(name, pattern) for pattern in self._deny_names):
            return f"host {host} is denied by the operator's policy"
        unwrapped = [_unwrap(a) for a in addresses]
        for address in unwrapped:
            if any(address in net for net in self._deny_nets):
                return f"address {address} of {host} is denied by the operator's policy"
        if any(_name_matches(name, pattern) for pattern in self._allow_names):
            return None
        for address in unwrapped:
            if any(address in net for net in self._allow_nets):
                continue
            if self.allowlist_only:
                return f"address {address} of {host} is not on the operator's allow list"
            if not address.is_global or address.is_multicast:
                return (
                    f"address {address} of {host} is private, loopback, link-local or "
                    "reserved; the operator must allow it explicitly"
                )
        return None


def _unwrap(address: IPAddress) -> IPAddress:
    # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it maps to.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _split_entries(entries: Iterable[str]) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    nets: list[IPNetwork] = []
    names: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        label = entry.removeprefix("*.")
        if not label or not all(part and _is_label(part) for part in label.split(".")):
            raise ValueError(f"not an address, network or host name: {raw!r}")
        names.append(entry)
    return tuple(nets), tuple(names)


def _is_label(part: str) -> bool:
    return len(part) <= 63 and all(c.isalnum() or c in "-_" for c in part)


def _name_matches(name: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Settings of `http.request`."""

    policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    #: Body bytes kept when a call does not say (`max_response_bytes`).
    default_response_bytes: int = 1 * MiB
    #: The most a call may ask for.
    max_response_bytes: int = 16 * MiB
    max_redirects: int = 10


@dataclass(frozen=True, slots=True)
class CommandSettings:
    """Settings of `command.run`; it is offered only when `enabled`."""

    enabled: bool = False
    #: Executables that may run: bare names (looked up on the child's PATH, matching only
    #: when argv[0] is that bare name) or absolute paths. None allows every executable.
    allow: tuple[str, ...] | None = None
    #: Variables of the server's environment passed to commands; others never are.
    env_passthrough: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "TZ")
    #: After SIGTERM on timeout or cancel, how long before SIGKILL.
    kill_grace_seconds: float = 2.0
    #: Bytes kept of each of stdout and stderr (the rest is read and dropped).
    max_output_bytes: int = 1 * MiB


@dataclass(frozen=True, slots=True)
class FileSettings:
    """Settings of the `file.*` tools."""

    default_read_bytes: int = 1 * MiB
    max_read_bytes: int = 16 * MiB
    max_list_entries: int = 10_000


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """Everything the operator decides about the built-in tools."""

    http: HttpSettings = field(default_factory=HttpSettings)
    command: CommandSettings = field(default_factory=CommandSettings)
    file: FileSettings = field(default_factory=FileSettings)


@runtime_checkable
class ConfigurableTool(Protocol):
    def configure(self, settings: ToolSettings) -> None:
        """Take the operator's settings. Raises ToolDisabled to stay out of the registry."""
        ...
