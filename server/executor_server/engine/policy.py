"""Retry and timeout policies, resolved to concrete numbers (pure functions)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from executor_server.domain.models import RetryPolicy, TimeoutPolicy
from executor_server.domain.status import ExecutionErrorType

DEFAULT_MAX_ATTEMPTS = 1
DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
DEFAULT_MAX_BACKOFF = 60.0
DEFAULT_JITTER = 0.0  # zero on the wire means "default", so the default must be none
DEFAULT_STEP_TIMEOUT = 300.0
DEFAULT_EXPECTED_DURATION_MULTIPLIER = 3.0
DEFAULT_MAX_CONCURRENT_STEPS = 4
MAX_ATTEMPTS_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Retry:
    max_attempts: int
    initial_backoff: float
    backoff_multiplier: float
    max_backoff: float
    jitter: float
    non_retryable: frozenset[ExecutionErrorType]

    @classmethod
    def resolve(cls, *policies: RetryPolicy | None) -> Retry:
        """Field by field, the first policy that sets a field wins; then the defaults."""
        chosen = [p for p in policies if p is not None]

        def pick(name: str, default: float) -> float:
            for policy in chosen:
                value = getattr(policy, name)
                if isinstance(value, timedelta):
                    return value.total_seconds()
                if value is not None:
                    return float(value)
            return default

        non_retryable: frozenset[ExecutionErrorType] = frozenset()
        for policy in chosen:
            non_retryable |= policy.non_retryable_error_types
        return cls(
            max_attempts=int(pick("max_attempts", DEFAULT_MAX_ATTEMPTS)),
            initial_backoff=pick("initial_backoff", DEFAULT_INITIAL_BACKOFF),
            backoff_multiplier=pick("backoff_multiplier", DEFAULT_BACKOFF_MULTIPLIER),
            max_backoff=pick("max_backoff", DEFAULT_MAX_BACKOFF),
            jitter=pick("jitter", DEFAULT_JITTER),
            non_retryable=non_retryable,
        )

    def allows_retry(self, attempt: int, error_type: ExecutionErrorType, retryable: bool) -> bool:
        """Whether another attempt follows attempt number `attempt` (1-based) that failed."""
        return retryable and error_type not in self.non_retryable and attempt < self.max_attempts

    def delay(self, attempt: int, seed: str) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based).

        Jitter is drawn from a generator seeded by `seed`, so an execution's delays are
        the same every time it runs: determinism extends to timing.
        """
        try:
            grown = self.initial_backoff * self.backoff_multiplier ** (attempt - 1)
        except OverflowError:  # a large multiplier over many attempts: the cap applies
            grown = math.inf
        base = min(grown, self.max_backoff)
        if not self.jitter:
            return base
        spread = random.Random(f"{seed}:{attempt}").uniform(-self.jitter, self.jitter)
        return min(max(base * (1.0 + spread), 0.0), self.max_backoff)


def attempt_timeout(
    *,
    step_timeout: timedelta | None,
    expected_duration: timedelta | None,
    tool_default: timedelta | None,
    policy: TimeoutPolicy,
) -> float:
    """Seconds allowed to one attempt: the step's own timeout, else its expected duration
    times the policy's multiplier, else the plan's default, else the tool's default."""
    if step_timeout is not None:
        return step_timeout.total_seconds()
    if expected_duration is not None and expected_duration.total_seconds() > 0:
        multiplier = policy.expected_duration_multiplier or DEFAULT_EXPECTED_DURATION_MULTIPLIER
        return expected_duration.total_seconds() * multiplier
    if policy.default_step_timeout is not None:
        return policy.default_step_timeout.total_seconds()
    if tool_default is not None:
        return tool_default.total_seconds()
    return DEFAULT_STEP_TIMEOUT
