"""Unit and property tests of retry and timeout policies (engine/policy.py)."""

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor_server.domain.models import RetryPolicy, TimeoutPolicy
from executor_server.domain.status import ExecutionErrorType
from executor_server.engine.policy import Retry, attempt_timeout

E = ExecutionErrorType


def retry(
    *,
    initial_backoff: float = 1.0,
    backoff_multiplier: float = 2.0,
    max_backoff: float = 60.0,
    jitter: float = 0.0,
) -> Retry:
    return Retry(
        max_attempts=5,
        initial_backoff=initial_backoff,
        backoff_multiplier=backoff_multiplier,
        max_backoff=max_backoff,
        jitter=jitter,
        non_retryable=frozenset(),
    )


# ------------------------------------------------------------------ resolve


def test_defaults_mean_no_retry() -> None:
    for r in (Retry.resolve(), Retry.resolve(None, None), Retry.resolve(RetryPolicy())):
        assert r == Retry(
            max_attempts=1,
            initial_backoff=1.0,
            backoff_multiplier=2.0,
            max_backoff=60.0,
            jitter=0.0,
            non_retryable=frozenset(),
        )
        assert not r.allows_retry(1, E.TOOL_FAILED, retryable=True)


def test_resolve_is_field_wise_step_first_then_plan_then_defaults() -> None:
    step = RetryPolicy(max_attempts=4, jitter=0.0)
    plan = RetryPolicy(
        max_attempts=9,
        initial_backoff=timedelta(milliseconds=250),
        max_backoff=timedelta(seconds=5),
        jitter=0.5,
    )
    r = Retry.resolve(step, plan)
    assert r.max_attempts == 4  # step wins
    assert r.jitter == 0.0  # step's explicit zero wins over the plan's 0.5
    assert r.initial_backoff == 0.25  # plan fills in, as seconds
    assert r.max_backoff == 5.0
    assert r.backoff_multiplier == 2.0  # neither sets it: default
    assert isinstance(r.max_attempts, int)


def test_resolve_skips_missing_step_policy() -> None:
    plan = RetryPolicy(max_attempts=3, backoff_multiplier=1.5)
    r = Retry.resolve(None, plan)
    assert (r.max_attempts, r.backoff_multiplier) == (3, 1.5)
    assert Retry.resolve(plan, None) == r


def test_non_retryable_types_are_the_union() -> None:
    step = RetryPolicy(non_retryable_error_types=frozenset({E.TIMEOUT}))
    plan = RetryPolicy(non_retryable_error_types=frozenset({E.VALIDATION, E.NETWORK}))
    r = Retry.resolve(step, plan)
    assert r.non_retryable == {E.TIMEOUT, E.VALIDATION, E.NETWORK}


# ------------------------------------------------------------------ allows_retry


def test_allows_retry_until_max_attempts() -> None:
    r = Retry.resolve(RetryPolicy(max_attempts=3))
    assert r.allows_retry(1, E.TOOL_FAILED, retryable=True)
    assert r.allows_retry(2, E.TOOL_FAILED, retryable=True)
    assert not r.allows_retry(3, E.TOOL_FAILED, retryable=True)
    assert not r.allows_retry(4, E.TOOL_FAILED, retryable=True)


def test_allows_retry_respects_retryable_flag() -> None:
    r = Retry.resolve(RetryPolicy(max_attempts=3))
    assert not r.allows_retry(1, E.TOOL_FAILED, retryable=False)


def test_allows_retry_respects_non_retryable_types() -> None:
    r = Retry.resolve(
        RetryPolicy(max_attempts=10, non_retryable_error_types=frozenset({E.TIMEOUT}))
    )
    assert not r.allows_retry(1, E.TIMEOUT, retryable=True)
    assert r.allows_retry(1, E.NETWORK, retryable=True)


# ------------------------------------------------------------------ delay


def test_delay_grows_by_the_multiplier_and_is_capped() -> None:
    r = retry(initial_backoff=0.5, backoff_multiplier=3.0, max_backoff=10.0)
    assert [r.delay(a, "seed") for a in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_multiplier_one_is_constant() -> None:
    r = retry(initial_backoff=2.0, backoff_multiplier=1.0)
    assert {r.delay(a, "s") for a in range(1, 20)} == {2.0}


def test_jitter_stays_within_its_spread_and_under_the_cap() -> None:
    r = retry(initial_backoff=1.0, backoff_multiplier=2.0, max_backoff=6.0, jitter=0.25)
    for attempt in range(1, 8):
        base = min(2.0 ** (attempt - 1), 6.0)
        for n in range(30):
            d = r.delay(attempt, f"plan:{n}")
            assert base * 0.75 <= d <= base * 1.25
            assert d <= 6.0


def test_jitter_at_the_cap_only_shortens() -> None:
    r = retry(initial_backoff=10.0, max_backoff=10.0, jitter=1.0)
    delays = [r.delay(1, f"s{n}") for n in range(50)]
    assert all(0.0 <= d <= 10.0 for d in delays)
    assert min(delays) < 10.0


def test_jitter_is_deterministic_per_seed_and_attempt() -> None:
    r = retry(jitter=0.5)
    assert r.delay(2, "plan-1:step-1") == r.delay(2, "plan-1:step-1")
    assert r.delay(2, "plan-1:step-1") == dataclasses.replace(r).delay(2, "plan-1:step-1")
    by_seed = {r.delay(2, f"plan-1:step-{n}") for n in range(20)}
    assert len(by_seed) >= 15  # different seeds usually differ
    by_attempt = {r.delay(a, "same") / (2.0 ** (a - 1)) for a in range(1, 6)}
    assert len(by_attempt) >= 4  # the attempt is part of the seed too


def test_the_default_policy_has_no_jitter_and_a_set_one_spreads_delays() -> None:
    plain = Retry.resolve(RetryPolicy(max_attempts=3))
    assert {plain.delay(1, f"s{n}") for n in range(10)} == {1.0}
    spread = Retry.resolve(RetryPolicy(max_attempts=3, jitter=0.1))
    delays = {spread.delay(1, f"s{n}") for n in range(10)}
    assert all(0.9 <= d <= 1.1 for d in delays)
    assert len(delays) > 1


@settings(max_examples=100, deadline=None)
@given(
    initial=st.floats(min_value=0, max_value=100),
    multiplier=st.floats(min_value=1, max_value=10),
    extra=st.floats(min_value=0, max_value=1000),
    jitter=st.floats(min_value=0, max_value=1),
    attempt=st.integers(min_value=1, max_value=100),
    seed=st.text(max_size=20),
)
def test_delay_is_within_zero_and_max_backoff(
    initial: float, multiplier: float, extra: float, jitter: float, attempt: int, seed: str
) -> None:
    policy = RetryPolicy(
        max_attempts=100,
        initial_backoff=timedelta(seconds=initial),
        backoff_multiplier=multiplier,
        max_backoff=timedelta(seconds=initial + extra),
        jitter=jitter,
    )
    r = Retry.resolve(policy)
    d = r.delay(attempt, seed)
    assert 0.0 <= d <= r.max_backoff
    base = min(r.initial_backoff * multiplier ** (attempt - 1), r.max_backoff)
    assert base * (1 - jitter) - 1e-9 <= d <= base * (1 + jitter) + 1e-9
    assert d == r.delay(attempt, seed)


def test_delay_with_a_large_multiplier_is_capped_not_an_overflow() -> None:
    # A policy validate_plan accepts: max_attempts <= 100, backoff_multiplier >= 1.
    r = Retry.resolve(RetryPolicy(max_attempts=100, backoff_multiplier=1e4, jitter=0.0))
    assert r.allows_retry(99, E.TOOL_FAILED, retryable=True)
    assert r.delay(99, "seed") == 60.0


# ------------------------------------------------------------------ attempt_timeout

S = timedelta(seconds=1)


def test_timeout_step_timeout_wins() -> None:
    got = attempt_timeout(
        step_timeout=7 * S,
        expected_duration=100 * S,
        tool_default=30 * S,
        policy=TimeoutPolicy(default_step_timeout=50 * S, expected_duration_multiplier=2),
    )
    assert got == 7.0


def test_timeout_expected_duration_times_multiplier() -> None:
    got = attempt_timeout(
        step_timeout=None,
        expected_duration=10 * S,
        tool_default=30 * S,
        policy=TimeoutPolicy(default_step_timeout=50 * S, expected_duration_multiplier=1.5),
    )
    assert got == 15.0


def test_timeout_expected_duration_default_multiplier_is_three() -> None:
    got = attempt_timeout(
        step_timeout=None,
        expected_duration=timedelta(milliseconds=500),
        tool_default=None,
        policy=TimeoutPolicy(default_step_timeout=50 * S),
    )
    assert got == 1.5


def test_timeout_zero_expected_duration_falls_through_to_plan_default() -> None:
    got = attempt_timeout(
        step_timeout=None,
        expected_duration=timedelta(0),
        tool_default=30 * S,
        policy=TimeoutPolicy(default_step_timeout=50 * S),
    )
    assert got == 50.0


def test_timeout_plan_default_beats_tool_default() -> None:
    got = attempt_timeout(
        step_timeout=None,
        expected_duration=None,
        tool_default=30 * S,
        policy=TimeoutPolicy(default_step_timeout=50 * S),
    )
    assert got == 50.0


def test_timeout_tool_default_then_300_seconds() -> None:
    assert (
        attempt_timeout(
            step_timeout=None, expected_duration=None, tool_default=30 * S, policy=TimeoutPolicy()
        )
        == 30.0
    )
    assert (
        attempt_timeout(
            step_timeout=None, expected_duration=None, tool_default=None, policy=TimeoutPolicy()
        )
        == 300.0
    )


@settings(max_examples=100, deadline=None)
@given(
    step_timeout=st.none() | st.integers(min_value=1, max_value=10**6),
    expected=st.none() | st.integers(min_value=0, max_value=10**6),
    tool=st.none() | st.integers(min_value=1, max_value=10**6),
    plan=st.none() | st.integers(min_value=1, max_value=10**6),
    multiplier=st.none() | st.floats(min_value=0.01, max_value=100),
)
def test_timeout_precedence(
    step_timeout: int | None,
    expected: int | None,
    tool: int | None,
    plan: int | None,
    multiplier: float | None,
) -> None:
    def ms(v: int | None) -> timedelta | None:
        return None if v is None else timedelta(milliseconds=v)

    got = attempt_timeout(
        step_timeout=ms(step_timeout),
        expected_duration=ms(expected),
        tool_default=ms(tool),
        policy=TimeoutPolicy(
            default_step_timeout=ms(plan), expected_duration_multiplier=multiplier
        ),
    )
    if step_timeout is not None:
        want = step_timeout / 1000
    elif expected:
        want = expected / 1000 * (3.0 if multiplier is None else multiplier)
    elif plan is not None:
        want = plan / 1000
    elif tool is not None:
        want = tool / 1000
    else:
        want = 300.0
    assert got == pytest.approx(want)
    assert got > 0
