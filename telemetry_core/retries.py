"""The one retry policy of the loops that wait for Kafka or ClickHouse to come back (tenacity).

``forever`` retries the exceptions it is given with exponential delays (``initial``, doubling,
capped at ``maximum``) and never gives up: the caller stops it by cancelling, or by raising an
exception it does not retry (a rebalance abandoning a batch). ``CancelledError`` is never
retried. Before each sleep ``on_failure`` hears the attempt number, the error and the delay,
for logs and metrics. Used by the workers' batch loop (processors/pipeline.py), the
reference-data loading of both services (service_http/reference.py) and the Kafka publisher's
(re)connection (telemetry_core/kafka_publisher.py).

    async for attempt in forever((StorageError,), Delays(0.2, 5.0), on_failure):
        with attempt:
            await write()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential

OnFailure = Callable[[int, BaseException, float], None]


@dataclass(frozen=True)
class Delays:
    """Seconds between attempts: ``initial``, doubling, at most ``maximum``."""

    initial: float
    maximum: float

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, not {self.initial} and {self.maximum}")


def forever(
    retried: tuple[type[BaseException], ...],
    delays: Delays,
    on_failure: OnFailure | None = None,
) -> AsyncRetrying:
    """An ``async for`` of attempts that ends at the first success (see the module docstring)."""

    def before_sleep(state: RetryCallState) -> None:
        if on_failure is None or state.outcome is None:
            return
        error = state.outcome.exception()
        if error is not None:
            on_failure(state.attempt_number, error, state.upcoming_sleep)

    return AsyncRetrying(
        retry=retry_if_exception_type(retried),
        wait=wait_exponential(multiplier=delays.initial, max=delays.maximum),
        stop=stop_never,
        before_sleep=before_sleep,
        reraise=True,
    )
