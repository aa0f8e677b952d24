"""A small circuit breaker: skip an upstream that keeps failing, try it again later.

Closed: requests flow.  After ``failure_threshold`` consecutive failures it
opens and the upstream is skipped; ``reset_after_s`` later one trial request
is let through (half-open): success closes it, failure opens it again.  A
successful health check closes it at once.  Hand-written because it is a
dozen lines and the async breaker libraries are unmaintained or sync-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, failure_threshold: int = 3, reset_after_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ):
        self.failure_threshold = max(1, failure_threshold)
        self.reset_after_s = reset_after_s
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allows_request(self) -> bool:
        """True when a request may go out now (claims the half-open trial when it is one)."""
        if self.opened_at is None:
            return True
        if self._trial_running or self._clock() - self.opened_at < self.reset_after_s:
            return False
        self._trial_running = True
        return True

    def trial_due(self) -> bool:
        """Open, but a half-open trial may be claimed now."""
        return (
            self.opened_at is not None
            and not self._trial_running
            and self._clock() - self.opened_at >= self.reset_after_s
        )

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self.failures += 1
        if self._trial_running or self.failures >= self.failure_threshold:
            self.opened_at = self._clock()
        self._trial_running = False
