"""Who may call what: bearer tokens with roles, client certificates, and the caller's name.

Health checks and reflection stay open, so load balancers can probe and `buf curl` can
discover the API. With tokens, every other call needs `authorization: Bearer <token>`
(else UNAUTHENTICATED) whose role covers the method (else PERMISSION_DENIED, naming the
role needed); both refusals happen before the request body is decoded. With client
certificates only (mutual TLS), the handshake has already authenticated the caller, who
has full access and is named by its certificate. Tokens are compared by digest and never
logged.

While a call runs, `caller()` is who made it: the servicer passes its name to the engine,
which records it as the actor of what the call did.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from executor_server.domain.access import ANONYMOUS, Principal, Role, TokenTable
from executor_server.rpc.errors import error_info
from executor_server.rpc.handlers import rejecting, within

_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
_SERVICE = "/executor.v1.ExecutorService/"

#: The least role each method needs; a method not listed (a new one) needs OPERATOR.
REQUIRED_ROLE: dict[str, Role] = {
    **{
        _SERVICE + m: Role.VIEWER
        for m in (
            "GetExecutionStatus",
            "WatchExecution",
            "ListExecutions",
            "ListTools",
            "ListApprovals",
        )
    },
    **{_SERVICE + m: Role.APPROVER for m in ("ApproveStep", "SignalExecution")},
    # Re-running a failed execution spends its budget again, like submitting it.
    _SERVICE + "RetryExecution": Role.OPERATOR,
}

_UNAUTHENTICATED = rpc_status.to_status(
    status_pb2.Status(
        code=code_pb2.UNAUTHENTICATED,
        message="missing or invalid credentials: send 'authorization: Bearer <token>'",
        details=[error_info("UNAUTHENTICATED")],
    )
)

_caller: contextvars.ContextVar[Principal] = contextvars.ContextVar("caller", default=ANONYMOUS)


@contextlib.contextmanager
def _acting_as(principal: Principal) -> Iterator[None]:
    token = _caller.set(principal)
    try:
        yield
    finally:
        _caller.reset(token)


def caller() -> Principal:
    """The caller of the RPC being handled (ANONYMOUS on an open server)."""
    return _caller.get()


def required_role(method: str) -> Role:
    return REQUIRED_ROLE.get(method, Role.OPERATOR)


def _permission_denied(method: str, principal: Principal, needed: Role) -> grpc.Status:
    name = method.rsplit("/", 1)[-1]
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.PERMISSION_DENIED,
            message=f"{name} needs the {needed.label} role; this caller has {principal.role.label}",
            details=[
                error_info(
                    "PERMISSION_DENIED",
                    {"required_role": needed.label, "role": principal.role.label, "method": name},
                )
            ],
        )
    )


if TYPE_CHECKING:  # the stubs make it generic; at run time it is a plain class
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor


class Access(_Interceptor):
    """Authenticates and authorizes every call. `tokens` may be replaced while serving
    (SIGHUP); with `client_certificates` the TLS layer has verified each peer already."""

    def __init__(self, tokens: TokenTable | None, *, client_certificates: bool) -> None:
        if tokens is not None and not tokens:
            raise ValueError("authentication by token needs at least one token")
        if tokens is None and not client_certificates:
            raise ValueError("Access needs tokens, client certificates or both")
        self._tokens = tokens

    @property
    def tokens(self) -> TokenTable | None:
        return self._tokens

    def replace_tokens(self, tokens: TokenTable) -> None:
        """Use `tokens` from the next call on. Raises ValueError for an empty table (it
        would shut every caller out, or open the service)."""
        if not tokens:
            raise ValueError("a token file without tokens would lock every caller out")
        self._tokens = tokens

    def _from_token(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Principal | None:
        assert self._tokens is not None
        for key, value in metadata or ():
            if key != "authorization":
                continue
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return self._tokens.lookup(token.strip())
        return None

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method = details.method
        if method.startswith(_OPEN_PREFIXES):
            return await continuation(details)
        handler: grpc.RpcMethodHandler[Any, Any] | None = await continuation(details)
        if handler is None:  # an unknown method: gRPC answers UNIMPLEMENTED
            return handler  # type: ignore[return-value]
        if self._tokens is None:
            return within(handler, lambda context: _acting_as(_certificate_holder(context)))
        principal = self._from_token(details.invocation_metadata)
        if principal is None:
            return rejecting(handler, _UNAUTHENTICATED)
        needed = required_role(method)
        if principal.role < needed:
            return rejecting(handler, _permission_denied(method, principal, needed))
        return within(handler, lambda _context: _acting_as(principal))


def _certificate_holder(context: Any) -> Principal:
    """The peer of a mutual-TLS call, named by its certificate's common name (else its
    first subject alternative name)."""
    auth = context.auth_context() or {}
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        values = auth.get(key)
        if values:
            return Principal(values[0].decode(errors="replace"), Role.OPERATOR)
    return Principal("client-certificate", Role.OPERATOR)
