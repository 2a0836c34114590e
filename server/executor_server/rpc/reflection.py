"""Server reflection, `grpc.reflection.v1` and `v1alpha`, over descriptors that keep the
proto's comments.

grpcio-reflection answers from the process's descriptor pool, which is built from the
generated `_pb2` modules: protoc strips comments from those, the pool cannot name the file
that declares a method (`executor.v1.ExecutorService.ExecutePlan`: "Symbol not found"), and
the package serves only v1alpha. This servicer answers from FileDescriptorProtos instead:
the contract's own from `_gen/executor.binpb` (`buf build` of proto/, source info and
imports included; `make stubs` writes it, `make lint` checks it is current), health's and
reflection's from their modules. It indexes every name those files declare — messages,
fields, oneofs, enums and their values, services, methods, extensions — so every symbol a
client asks for resolves.

v1 and v1alpha are the same messages under two package names, so both services run on
grpcio-reflection's v1alpha messages; v1's own file descriptor is derived from v1alpha's
by renaming its package.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from importlib import resources

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2 as pb

V1 = "grpc.reflection.v1.ServerReflection"
V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
_METHOD = "ServerReflectionInfo"
# Longest symbol or file name echoed back in an error message.
_MAX_NAME_IN_ERROR = 200


def _file(serialized: bytes, name: str) -> descriptor_pb2.FileDescriptorProto:
    """A generated module's file under its canonical name (the Python packages rename
    `grpc/health/v1/health.proto` to `grpc_health/...`); these import nothing, so no
    reference to them changes."""
    file = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    file.name = name
    return file


def _v1_reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto, from v1alpha's: same messages, new package."""
    v1 = _file(pb.DESCRIPTOR.serialized_pb, "grpc/reflection/v1/reflection.proto")
    v1.package = "grpc.reflection.v1"
    v1.ClearField("options")  # v1alpha's are deprecated=true and its language packages

    def renamed(type_name: str) -> str:
        return type_name.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.", 1)

    for message in v1.message_type:
        for field in message.field:
            if field.HasField("type_name"):
                field.type_name = renamed(field.type_name)
    for method in v1.service[0].method:
        method.input_type = renamed(method.input_type)
        method.output_type = renamed(method.output_type)
    return v1


def contract_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """The contract's files, with comments, and every file they import."""
    data = (resources.files("executor_server.rpc") / "_gen" / "executor.binpb").read_bytes()
    return list(descriptor_pb2.FileDescriptorSet.FromString(data).file)


class DescriptorIndex:
    """File descriptors by file name and by every name they declare."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self._serialized: dict[str, bytes] = {}
        self._symbols: dict[str, str] = {}
        self._messages: set[str] = set()
        self._extensions: dict[tuple[str, int], str] = {}
        for file in files:
            self._files.setdefault(file.name, file)
        pool = descriptor_pool.DescriptorPool()
        for name in self._files:
            self._add(name, pool, set())

    def _add(self, name: str, pool: descriptor_pool.DescriptorPool, path: set[str]) -> None:
        """Adds a file after its imports; the pool rejects a set that does not link."""
        if name in self._serialized:
            return
        if name in path or name not in self._files:
            raise ValueError(f"descriptor set: {name!r} is missing or imports itself")
        file = self._files[name]
        for dependency in file.dependency:
            self._add(dependency, pool, path | {name})
        pool.Add(file)
        self._serialized[name] = file.SerializeToString()
        self._index(file)

    def _index(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        scope = f"{file.package}." if file.package else ""

        def declare(name: str) -> None:
            self._symbols.setdefault(name, file.name)

        def enum(e: descriptor_pb2.EnumDescriptorProto, parent: str) -> None:
            declare(parent + e.name)
            for value in e.value:  # enum values are siblings of their enum
                declare(parent + value.name)

        def extension(field: descriptor_pb2.FieldDescriptorProto, parent: str) -> None:
            declare(parent + field.name)
            self._extensions.setdefault((field.extendee.lstrip("."), field.number), file.name)

        def message(m: descriptor_pb2.DescriptorProto, parent: str) -> None:
            name = parent + m.name
            declare(name)
            self._messages.add(name)
            for field in m.field:
                declare(f"{name}.{field.name}")
            for oneof in m.oneof_decl:
                declare(f"{name}.{oneof.name}")
            for nested in m.nested_type:
                message(nested, f"{name}.")
            for e in m.enum_type:
                enum(e, f"{name}.")
            for field in m.extension:
                extension(field, f"{name}.")

        for m in file.message_type:
            message(m, scope)
        for e in file.enum_type:
            enum(e, scope)
        for field in file.extension:
            extension(field, scope)
        for service in file.service:
            declare(scope + service.name)
            for method in service.method:
                declare(f"{scope}{service.name}.{method.name}")

    def file_with_imports(self, name: str) -> list[bytes] | None:
        """The file, then every file it imports, transitively; None if unknown."""
        if name not in self._serialized:
            return None
        seen: dict[str, None] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            if current not in seen:
                seen[current] = None
                pending.extend(self._files[current].dependency)
        return [self._serialized[n] for n in seen]

    def file_of_symbol(self, symbol: str) -> str | None:
        return self._symbols.get(symbol.lstrip("."))

    def file_of_extension(self, containing_type: str, number: int) -> str | None:
        return self._extensions.get((containing_type.lstrip("."), number))

    def extension_numbers(self, containing_type: str) -> list[int] | None:
        """The extension numbers of a message type; None if there is no such message."""
        name = containing_type.lstrip(".")
        if name not in self._messages:
            return None
        return sorted(n for (extendee, n) in self._extensions if extendee == name)


def _shorten(name: str) -> str:
    return name if len(name) <= _MAX_NAME_IN_ERROR else name[:_MAX_NAME_IN_ERROR] + "…"


class ReflectionServicer:
    """Answers ServerReflectionInfo streams of either version from one DescriptorIndex."""

    def __init__(self, index: DescriptorIndex, services: Iterable[str]) -> None:
        self._index = index
        self._services = sorted(set(services) | {V1, V1ALPHA})

    async def server_reflection_info(
        self,
        requests: AsyncIterable[pb.ServerReflectionRequest],
        context: grpc.aio.ServicerContext[pb.ServerReflectionRequest, pb.ServerReflectionResponse],
    ) -> AsyncIterator[pb.ServerReflectionResponse]:
        async for request in requests:
            yield self.answer(request)

    def answer(self, request: pb.ServerReflectionRequest) -> pb.ServerReflectionResponse:
        kind = request.WhichOneof("message_request")
        if kind == "list_services":
            return pb.ServerReflectionResponse(
                original_request=request,
                list_services_response=pb.ListServiceResponse(
                    service=[pb.ServiceResponse(name=name) for name in self._services]
                ),
            )
        if kind == "file_by_filename":
            return self._files(request, request.file_by_filename, "file")
        if kind == "file_containing_symbol":
            symbol = request.file_containing_symbol
            return self._files(request, self._index.file_of_symbol(symbol), "symbol", symbol)
        if kind == "file_containing_extension":
            ext = request.file_containing_extension
            name = self._index.file_of_extension(ext.containing_type, ext.extension_number)
            return self._files(
                request, name, "extension", f"{ext.containing_type}({ext.extension_number})"
            )
        if kind == "all_extension_numbers_of_type":
            numbers = self._index.extension_numbers(request.all_extension_numbers_of_type)
            if numbers is None:
                return _error(
                    request,
                    grpc.StatusCode.NOT_FOUND,
                    f"type not found: {_shorten(request.all_extension_numbers_of_type)}",
                )
            return pb.ServerReflectionResponse(
                original_request=request,
                all_extension_numbers_response=pb.ExtensionNumberResponse(
                    base_type_name=request.all_extension_numbers_of_type.lstrip("."),
                    extension_number=numbers,
                ),
            )
        return _error(request, grpc.StatusCode.INVALID_ARGUMENT, "no request in the message")

    def _files(
        self,
        request: pb.ServerReflectionRequest,
        file_name: str | None,
        what: str,
        asked: str | None = None,
    ) -> pb.ServerReflectionResponse:
        files = self._index.file_with_imports(file_name) if file_name is not None else None
        if files is None:
            return _error(
                request,
                grpc.StatusCode.NOT_FOUND,
                f"{what} not found: {_shorten(asked if asked is not None else str(file_name))}",
            )
        return pb.ServerReflectionResponse(
            original_request=request,
            file_descriptor_response=pb.FileDescriptorResponse(file_descriptor_proto=files),
        )


def _error(
    request: pb.ServerReflectionRequest, code: grpc.StatusCode, message: str
) -> pb.ServerReflectionResponse:
    number: int = code.value[0]
    return pb.ServerReflectionResponse(
        original_request=request,
        error_response=pb.ErrorResponse(error_code=number, error_message=message),
    )


def _descriptors() -> DescriptorIndex:
    return DescriptorIndex(
        [
            *contract_files(),
            _file(health_pb2.DESCRIPTOR.serialized_pb, "grpc/health/v1/health.proto"),
            _file(pb.DESCRIPTOR.serialized_pb, "grpc/reflection/v1alpha/reflection.proto"),
            _v1_reflection_file(),
        ]
    )


# Read and checked once, when the module loads: never on the event loop, and a broken
# descriptor set stops the server before it listens.
DESCRIPTORS = _descriptors()


def enable_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
    """Serves reflection v1 and v1alpha on `server`, listing `services` and both reflection
    services, with the contract's descriptors (comments included)."""
    servicer = ReflectionServicer(DESCRIPTORS, services)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.server_reflection_info,
        request_deserializer=pb.ServerReflectionRequest.FromString,
        response_serializer=pb.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, {_METHOD: handler}) for name in (V1, V1ALPHA)]
    )
