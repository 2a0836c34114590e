"""Tool discovery end to end: the example plugin package (installed from the lock) found
through entry points and called over the wire; broken and duplicate plugins reported while
the server serves; operator allow/deny by name; complete specs for every built-in; the
tool flags of the CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema_rs
import pytest
from tests.support.events import error_type_name

from executor_client import (
    AsyncExecutorClient,
    InvalidArgumentError,
    executor_pb2,
    output,
    plan,
    status_name,
    step,
)
from executor_server import cli
from executor_server.app import Config, build_server
from executor_server.tools.registry import ToolRegistry
from executor_server.tools.settings import CommandSettings, ToolSettings

pb = executor_pb2

BUILT_INS = {
    "echo",
    "sleep",
    "fail",
    "http.request",
    "file.read",
    "file.write",
    "file.delete",
    "file.list",
}
EXAMPLES = {"example.wordcount", "example.uppercase"}


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding a distribution whose entry points are broken in
    three ways: a module that does not exist, a name another plugin already provides, and
    an object that is not a tool. importlib.metadata finds it like an installed package."""
    site = tmp_path / "site"
    dist = site / "executor_broken_plugins-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: executor-broken-plugins\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [executor.tools]
            broken.missing = executor_no_such_module_xyz:Tool
            example.wordcount = executor_example_tools:WordCount
            broken.not_a_tool = json:dumps
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def tools(request: pytest.FixtureRequest) -> ToolRegistry:
    """Real discovery through entry points (built here, off the event loop), with the
    tests' own plugin site when a test asks for it."""
    if "plugin_site" in request.fixturenames:
        request.getfixturevalue("plugin_site")
    return ToolRegistry.from_entry_points()


async def test_example_plugin_is_discovered_and_callable(client: AsyncExecutorClient) -> None:
    specs = {t.name: t for t in await client.list_tools()}
    assert set(specs) >= BUILT_INS | EXAMPLES
    assert "command.run" not in specs  # not enabled on this server
    wc = specs["example.wordcount"]
    assert wc.title == "Word count"
    assert wc.read_only and wc.idempotent and not wc.destructive
    assert output(wc.input_schema)["required"] == ["text"]
    assert output(wc.output_schema)["required"] == ["words", "lines", "characters"]
    assert wc.default_timeout.seconds == 5

    count = step("example.wordcount", {"text": "one two\nthree"}, name="count")
    shout = step("example.uppercase", {"text": "n=${steps.count.output.words}"}, depends_on=[count])
    result = await client.execute_plan(plan(count, shout))
    assert status_name(result.status) == "COMPLETED", result.error.message
    assert output(result.step_results[0].output) == {"words": 3, "lines": 2, "characters": 13}
    assert output(result.step_results[1].output) == {"text": "N=3"}

    result = await client.execute_plan(plan(step("example.uppercase", {"text": ""})))
    assert error_type_name(result.error.error_type) == "TOOL_FAILED"
    assert "empty" in result.error.message

    # Its input schema is enforced at submission, like any tool's.
    with pytest.raises(InvalidArgumentError) as caught:
        await client.execute_plan(plan(step("example.wordcount", {"txt": "typo"})))
    assert "steps[0]" in str(caught.value)


async def test_broken_and_duplicate_plugins_are_reported_while_the_server_serves(
    plugin_site: Path, client: AsyncExecutorClient
) -> None:
    page = await client.list_tools_page()
    errors = {e.entry_point: e.message for e in page.load_errors}
    assert set(errors) == {
        "broken.missing = executor_no_such_module_xyz:Tool",
        "broken.not_a_tool = json:dumps",
        "example.wordcount = executor_example_tools:WordCount",
    }
    assert "ModuleNotFoundError" in errors["broken.missing = executor_no_such_module_xyz:Tool"]
    assert "no `spec`" in errors["broken.not_a_tool = json:dumps"]
    assert (
        "already provides tool 'example.wordcount'"
        in errors["example.wordcount = executor_example_tools:WordCount"]
    )
    # Everything else loaded and works, the first example.wordcount included.
    names = {t.name for t in await client.list_tools()}
    assert names >= BUILT_INS | EXAMPLES
    result = await client.execute_plan(plan(step("example.wordcount", {"text": "a b"})))
    assert status_name(result.status) == "COMPLETED"


def test_operators_allow_and_deny_tools_by_name() -> None:
    denied = ToolRegistry.from_entry_points(deny=["file.delete", "http.request"])
    assert {t.spec.name for t in denied} == (BUILT_INS | EXAMPLES) - {"file.delete", "http.request"}
    allowed = ToolRegistry.from_entry_points(allow=["echo", "example.wordcount", "command.run"])
    # command.run is allowed by name but still off until enabled.
    assert {t.spec.name for t in allowed} == {"echo", "example.wordcount"}
    assert "command.run" in allowed.disabled


async def test_build_server_applies_the_tool_configuration(
    tmp_path: Path, client: AsyncExecutorClient
) -> None:
    # A second server built the way `executor serve` builds one: discovery plus settings.
    config = Config(
        address="127.0.0.1:0",
        data_dir=tmp_path / "second",
        deny_tools=frozenset({"file.delete"}),
        tool_settings=ToolSettings(command=CommandSettings(enabled=True, allow=("echo",))),
    )
    server = await build_server(config)
    try:
        names = {t.spec.name for t in server.executor.tools}
        assert "command.run" in names and "file.delete" not in names
    finally:
        await server.stop(drain_seconds=0, grace_seconds=0)


async def test_every_built_in_has_a_complete_spec(client: AsyncExecutorClient) -> None:
    specs = {t.name: t for t in await client.list_tools(page_size=3)}  # paginated
    for name in BUILT_INS | EXAMPLES:
        spec = specs[name]
        assert spec.title and spec.description, name
        if name not in ("echo", "sleep"):  # the core demo tools run unbounded by default
            assert spec.HasField("default_timeout") and spec.default_timeout.ToTimedelta(), name
        for schema in (output(spec.input_schema), output(spec.output_schema)):
            assert schema.get("type") == "object", name
            jsonschema_rs.meta.validate(schema)
        if name != "echo":  # echo takes any object on purpose
            assert output(spec.input_schema)["additionalProperties"] is False, name
    assert specs["file.write"].compensable and specs["file.write"].destructive
    assert specs["file.read"].read_only and specs["file.list"].read_only
    assert specs["http.request"].open_world and not specs["http.request"].idempotent


def test_cli_tool_flags() -> None:
    args = cli._parser().parse_args(
        [
            "serve",
            "--http-allow",
            "10.0.0.0/8",
            "--http-allow",
            "*.corp.example",
            "--http-deny",
            "10.0.0.5",
            "--enable-command-run",
            "--command-allow",
            "git",
            "--command-env",
            "HOME",
            "--command-kill-grace",
            "0.5",
        ]
    )
    settings = cli._tool_settings(args)
    assert settings.http.policy.allow == ("10.0.0.0/8", "*.corp.example")
    assert settings.http.policy.deny == ("10.0.0.5",)
    assert settings.command == CommandSettings(
        enabled=True, allow=("git",), env_passthrough=("HOME",), kill_grace_seconds=0.5
    )
    defaults = cli._tool_settings(cli._parser().parse_args(["serve"]))
    assert defaults == ToolSettings()
    with pytest.raises(SystemExit):
        cli.main(["serve", "--http-allow", "http://not a host/"])
