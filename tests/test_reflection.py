"""Server reflection, both versions, as clients use it: every declared name resolves (methods
included), the files carry the proto's comments, and they describe the API the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TypeAlias

import grpc
import grpc.aio
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as pb

from executor_client import executor_pb2
from executor_server.rpc.reflection import DescriptorIndex

Ask: TypeAlias = (
    "grpc.aio.StreamStreamMultiCallable[pb.ServerReflectionRequest, pb.ServerReflectionResponse]"
)
VERSIONS = ["grpc.reflection.v1", "grpc.reflection.v1alpha"]
CONTRACT = "executor/v1/executor.proto"


@pytest.fixture(params=VERSIONS)
async def ask(request: pytest.FixtureRequest, port: int) -> AsyncIterator[Ask]:
    """ServerReflectionInfo of one version (v1's messages are v1alpha's, renamed)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel.stream_stream(
            f"/{request.param}.ServerReflection/ServerReflectionInfo",
            request_serializer=pb.ServerReflectionRequest.SerializeToString,
            response_deserializer=pb.ServerReflectionResponse.FromString,
        )


async def answers(
    ask: Ask, *requests: pb.ServerReflectionRequest
) -> list[pb.ServerReflectionResponse]:
    """Sends the requests on one stream and returns the answers, in order."""
    call = ask(iter(requests), timeout=10)
    return [answer async for answer in call]


def files(answer: pb.ServerReflectionResponse) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    assert answer.WhichOneof("message_response") == "file_descriptor_response", answer
    protos = answer.file_descriptor_response.file_descriptor_proto
    parsed = [descriptor_pb2.FileDescriptorProto.FromString(p) for p in protos]
    return {f.name: f for f in parsed}


def without_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        without_json_names(message.nested_type)


async def test_lists_every_service(ask: Ask) -> None:
    (answer,) = await answers(ask, pb.ServerReflectionRequest(list_services=""))
    assert [s.name for s in answer.list_services_response.service] == [
        "executor.v1.ExecutorService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]


@pytest.mark.parametrize(
    "symbol",
    [
        "executor.v1.ExecutorService",
        "executor.v1.ExecutorService.ExecutePlan",
        "executor.v1.ExecutorService.WatchExecution",
        "executor.v1.ActionPlan",
        "executor.v1.ActionPlan.steps",
        "executor.v1.ActionStep.step_type",
        "executor.v1.ExecutionContext.StepOutputsEntry",
        "executor.v1.ExecutionStatus",
        "executor.v1.EXECUTION_STATUS_COMPLETED",
        ".executor.v1.ActionPlan",
    ],
)
async def test_every_declared_name_resolves_to_the_contract(ask: Ask, symbol: str) -> None:
    (answer,) = await answers(ask, pb.ServerReflectionRequest(file_containing_symbol=symbol))
    served = files(answer)
    assert next(iter(served)) == CONTRACT  # the file first, then its imports
    assert set(served) == {
        CONTRACT,
        "google/protobuf/duration.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
    }


async def test_files_carry_the_comments_and_match_the_running_api(
    ask: Ask,
) -> None:
    (answer,) = await answers(ask, pb.ServerReflectionRequest(file_by_filename=CONTRACT))
    served = files(answer)[CONTRACT]
    comments = [loc.leading_comments for loc in served.source_code_info.location]
    assert any("Validates and runs a plan." in c for c in comments)

    # Apart from comments (and the JSON names buf adds), the file the server runs, which
    # Python's stubs name after their package.
    running = descriptor_pb2.FileDescriptorProto.FromString(executor_pb2.DESCRIPTOR.serialized_pb)
    assert running.name == f"executor_client/_gen/{CONTRACT}"
    running.name = CONTRACT
    served.ClearField("source_code_info")
    without_json_names(served.message_type)
    assert str(served) == str(running)


async def test_reflection_describes_itself_in_both_versions(
    ask: Ask,
) -> None:
    got = await answers(
        ask,
        *(
            pb.ServerReflectionRequest(file_containing_symbol=f"{v}.ServerReflection")
            for v in VERSIONS
        ),
    )
    pool = descriptor_pool.DescriptorPool()
    for answer in got:
        for file in files(answer).values():
            pool.Add(file)
    for version in VERSIONS:
        method = pool.FindMethodByName(f"{version}.ServerReflection.ServerReflectionInfo")
        assert method.input_type.full_name == f"{version}.ServerReflectionRequest"
        assert method.client_streaming and method.server_streaming


async def test_unknown_names_are_not_found_and_the_stream_goes_on(
    ask: Ask,
) -> None:
    got = await answers(
        ask,
        pb.ServerReflectionRequest(file_containing_symbol="executor.v1.Nope"),
        pb.ServerReflectionRequest(file_containing_symbol="x" * 100_000),
        pb.ServerReflectionRequest(file_by_filename="nope.proto"),
        pb.ServerReflectionRequest(
            file_containing_extension=pb.ExtensionRequest(
                containing_type="executor.v1.ActionPlan", extension_number=100
            )
        ),
        pb.ServerReflectionRequest(all_extension_numbers_of_type="executor.v1.Nope"),
        pb.ServerReflectionRequest(all_extension_numbers_of_type="executor.v1.ActionPlan"),
        pb.ServerReflectionRequest(),
        pb.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"),
    )
    codes = [a.error_response.error_code for a in got]
    not_found = grpc.StatusCode.NOT_FOUND.value[0]
    invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert codes == [not_found] * 5 + [0, invalid, 0]
    assert got[0].error_response.error_message == "symbol not found: executor.v1.Nope"
    assert len(got[1].error_response.error_message) < 300  # the name is not echoed whole
    assert got[5].all_extension_numbers_response.base_type_name == "executor.v1.ActionPlan"
    assert list(got[5].all_extension_numbers_response.extension_number) == []
    assert "grpc/health/v1/health.proto" in files(got[7])
    assert got[0].original_request.file_containing_symbol == "executor.v1.Nope"


def test_extensions_are_indexed_by_type_and_number() -> None:
    """The contract declares none; a proto2 file with one shows the index finds them."""
    file = descriptor_pb2.FileDescriptorProto(name="t/ext.proto", package="t", syntax="proto2")
    base = file.message_type.add(name="Base")
    base.extension_range.add(start=100, end=200)
    file.extension.add(
        name="tag",
        number=100,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        extendee=".t.Base",
    )
    index = DescriptorIndex([file])
    assert index.file_of_extension("t.Base", 100) == "t/ext.proto"
    assert index.file_of_extension("t.Base", 101) is None
    assert index.extension_numbers(".t.Base") == [100]
    assert index.extension_numbers("t.tag") is None  # not a message
    assert index.file_of_symbol("t.tag") == "t/ext.proto"


def test_a_descriptor_set_that_does_not_link_is_refused() -> None:
    orphan = descriptor_pb2.FileDescriptorProto(name="a.proto", dependency=["missing.proto"])
    with pytest.raises(ValueError, match=r"missing\.proto"):
        DescriptorIndex([orphan])
