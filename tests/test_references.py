"""Unit and property tests of step references (engine/references.py)."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor_server.domain.errors import StepError
from executor_server.domain.status import ExecutionErrorType
from executor_server.engine import references
from executor_server.engine.references import find_references, has_reference

ROOMY = 64 * 1024 * 1024


def resolve(value: Any, outputs: Any) -> Any:
    return references.resolve(value, outputs, ROOMY)


OUTPUTS: dict[str, Any] = {
    "a": {"n": 3, "obj": {"k": [1, 2]}, "items": [{"id": "x"}, {"id": "y"}], "none": None},
    "b": "text",
    "c": [10, 20, 30],
    "11111111-2222-4333-8444-555555555555": {"by": "id"},
    "nothing": None,
}

# ------------------------------------------------------------------ whole-string references


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${steps.a.output.n}", 3),
        ("${steps.a.output.obj}", {"k": [1, 2]}),
        ("${steps.a.output.obj.k}", [1, 2]),
        ("${steps.a.output.none}", None),
        ("${steps.nothing.output}", None),
        ("${steps.b.output}", "text"),
        ("${steps.c.output}", [10, 20, 30]),
        ("${steps.11111111-2222-4333-8444-555555555555.output.by}", "id"),
    ],
)
def test_whole_string_reference_keeps_json_type(template: str, expected: Any) -> None:
    got = resolve(template, OUTPUTS)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("items.0.id", "x"),
        ("items.1.id", "y"),
        ("items.-1.id", "y"),
        ("items.-2.id", "x"),
        ("obj.k.0", 1),
        ("obj.k.-1", 2),
    ],
)
def test_nested_paths_through_dicts_and_lists(path: str, expected: Any) -> None:
    assert resolve(f"${{steps.a.output.{path}}}", OUTPUTS) == expected


def test_numeric_key_of_a_dict_is_a_key_not_an_index() -> None:
    outputs = {"s": {"0": "zero", "-1": "minus"}}
    assert resolve("${steps.s.output.0}", outputs) == "zero"
    assert resolve("${steps.s.output.-1}", outputs) == "minus"


# ------------------------------------------------------------------ interpolation


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n=${steps.a.output.n}!", "n=3!"),
        ("say ${steps.b.output}", "say text"),
        ("obj=${steps.a.output.obj}", 'obj={"k":[1,2]}'),
        ("list:${steps.c.output}", "list:[10,20,30]"),
        ("none:${steps.a.output.none}", "none:null"),
        ("${steps.b.output}${steps.a.output.n}", "text3"),
        ("${steps.b.output} and ${steps.b.output}", "text and text"),
        ("$${steps.a.output.n}}", "$3}"),
    ],
)
def test_interpolation_in_longer_strings(template: str, expected: str) -> None:
    assert resolve(template, OUTPUTS) == expected


def test_interpolated_bool_and_float_are_json() -> None:
    outputs = {"s": {"t": True, "f": 1.5, "u": "ünï"}}
    assert resolve("${steps.s.output.t}/${steps.s.output.f}", outputs) == "true/1.5"
    assert resolve("<${steps.s.output.u}>", outputs) == "<ünï>"
    assert resolve("${steps.s.output.t}", outputs) is True


def test_resolve_walks_dicts_and_lists_and_copies() -> None:
    template: dict[str, Any] = {
        "x": "${steps.a.output.n}",
        "nested": {"list": ["${steps.c.output.1}", "keep", 7, None, {"s": "v=${steps.b.output}"}]},
        "${steps.a.output.n}": "keys are not resolved",
    }
    got = resolve(template, OUTPUTS)
    assert got == {
        "x": 3,
        "nested": {"list": [20, "keep", 7, None, {"s": "v=text"}]},
        "${steps.a.output.n}": "keys are not resolved",
    }
    assert got is not template
    assert got["nested"] is not template["nested"]
    assert template["x"] == "${steps.a.output.n}"  # the input is not changed


@pytest.mark.parametrize(
    "text", ["${steps.a.output", "${step.a.output}", "${steps..output}", "${steps.a.out}", "${}"]
)
def test_non_references_are_left_alone(text: str) -> None:
    assert resolve(text, OUTPUTS) == text
    assert not has_reference(text)
    assert find_references({"v": text}) == set()


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("${steps.ghost.output}", "'ghost' has no output"),
        ("${steps.a.output.missing}", "'missing'"),
        ("${steps.a.output.n.deeper}", "'deeper'"),
        ("${steps.c.output.3}", "index 3 is out of range"),
        ("${steps.c.output.-4}", "index -4 is out of range"),
        ("${steps.c.output.x}", "'x'"),
        ("${steps.b.output.0}", "'0'"),
        ("${steps.nothing.output.k}", "'k'"),
        ("prefix ${steps.ghost.output} suffix", "'ghost'"),
    ],
)
def test_unresolvable_reference_is_a_validation_step_error(template: str, words: str) -> None:
    with pytest.raises(StepError) as info:
        resolve({"deep": [template]}, OUTPUTS)
    error = info.value
    assert error.error_type is ExecutionErrorType.VALIDATION
    assert error.retryable is False
    assert words in error.message
    assert "cannot resolve ${steps." in error.message


@pytest.mark.parametrize("segment", ["--1", "²"])
def test_malformed_list_index_is_a_validation_step_error(segment: str) -> None:
    with pytest.raises(StepError) as info:
        resolve(f"${{steps.c.output.{segment}}}", OUTPUTS)
    assert info.value.error_type is ExecutionErrorType.VALIDATION


# ------------------------------------------------------------------ find_references


def test_find_references_at_any_depth() -> None:
    value = {
        "a": "${steps.one.output}",
        "b": [1, None, True, {"c": ["x ${steps.two.output.k} ${steps.three.output.0}"]}],
        "d": {"e": {"f": "${steps.one.output.again}"}},
        "${steps.key.output}": "no refs in keys",
        "g": "${not.a.ref}",
    }
    assert find_references(value) == {"one", "two", "three"}
    assert find_references("${steps.solo.output}") == {"solo"}
    assert find_references([["${steps.x-y_z.output}"]]) == {"x-y_z"}
    assert find_references({"n": 1, "s": "plain"}) == set()


def test_has_reference() -> None:
    assert has_reference("${steps.a.output}")
    assert has_reference("before ${steps.a.output.b} after")
    assert not has_reference("plain")
    assert not has_reference({"v": "${steps.a.output}"})
    assert not has_reference(["${steps.a.output}"])
    assert not has_reference(3)


# ------------------------------------------------------------------ properties

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=15,
)
no_refs = st.recursive(
    json_scalars.filter(lambda v: not (isinstance(v, str) and "${" in v)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=15,
)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(no_refs, st.dictionaries(names, json_values, max_size=3))
def test_resolve_without_references_returns_an_equal_value(value: Any, outputs: Any) -> None:
    assert resolve(value, outputs) == value
    assert find_references(value) == set()


plain_leaves = json_scalars.filter(lambda v: not (isinstance(v, str) and "${" in v))
# A tree whose leaves are plain values or ("ref", k): a reference to the k-th output.
shapes = st.recursive(
    plain_leaves | st.tuples(st.just("ref"), st.integers(min_value=0, max_value=3)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def templates(draw: st.DrawFn) -> tuple[Any, Any, dict[str, Any]]:
    """(template, expected resolution, outputs): leaves are plain values or whole references."""
    outputs = draw(st.dictionaries(names, json_values, min_size=4, max_size=4))
    ref_names = sorted(outputs)

    def build(shape: Any) -> tuple[Any, Any]:
        if isinstance(shape, tuple):
            ref = ref_names[shape[1]]
            return f"${{steps.{ref}.output}}", outputs[ref]
        if isinstance(shape, list):
            pairs = [build(item) for item in shape]
            return [t for t, _ in pairs], [e for _, e in pairs]
        if isinstance(shape, dict):
            built = {k: build(v) for k, v in shape.items()}
            return {k: t for k, (t, _) in built.items()}, {k: e for k, (_, e) in built.items()}
        return shape, shape

    template, expected = build(draw(shapes))
    return template, expected, outputs


def _refs_in(template: Any) -> set[str]:
    if isinstance(template, str):
        return (
            {template[len("${steps.") : -len(".output}")]} if template.startswith("${") else set()
        )
    if isinstance(template, dict):
        return set().union(*map(_refs_in, template.values()))
    if isinstance(template, list):
        return set().union(*map(_refs_in, template))
    return set()


@settings(max_examples=100, deadline=None)
@given(templates())
def test_find_then_resolve_round_trips(case: tuple[Any, Any, dict[str, Any]]) -> None:
    template, expected, outputs = case
    found = find_references(template)
    assert found == _refs_in(template)
    assert found <= set(outputs)
    # Only the outputs that were found are needed to resolve it.
    assert resolve(template, {name: outputs[name] for name in found}) == expected


@settings(max_examples=100, deadline=None)
@given(names, json_values, st.text(max_size=5).filter(lambda s: "${" not in s))
def test_interpolation_is_compact_json_or_the_string_itself(
    name: str, output: Any, prefix: str
) -> None:
    got = resolve(f"{prefix}<${{steps.{name}.output}}>", {name: output})
    text = output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))
    assert got == f"{prefix}<{text}>"


# ---------------------------------------------------------------- size budget


@pytest.mark.parametrize(
    "template",
    [
        "${steps.big.output}${steps.big.output}",  # interpolated twice
        ["${steps.big.output}", "${steps.big.output}"],  # the whole value twice
        {"a": "${steps.big.output.text}", "b": "${steps.big.output.text}"},
    ],
)
def test_resolution_stops_at_the_argument_budget(template: Any) -> None:
    outputs = {"big": {"text": "x" * 600}}
    assert references.resolve(["${steps.big.output}"], outputs, 1000)  # one fits
    with pytest.raises(StepError) as refused:
        references.resolve(template, outputs, 1000)
    assert refused.value.error_type is ExecutionErrorType.RESOURCE_EXHAUSTED
    assert "max_argument_bytes (1,000 bytes)" in refused.value.message
    assert not refused.value.retryable


def test_a_reference_repeated_a_million_times_is_refused_early() -> None:
    outputs = {"big": "y" * 1_000_000}
    template = "${steps.big.output}" * 1_000_000  # would be a terabyte
    with pytest.raises(StepError):
        references.resolve(template, outputs, 4 * 1024 * 1024)
