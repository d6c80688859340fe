"""What a failed publish tells the handler (shared by the publisher and its flusher)."""

from __future__ import annotations

TOO_LARGE = "too_large"


class PublishError(Exception):
    """Kafka did not acknowledge in time or refused; ``reason`` is a metric label.

    ``TOO_LARGE`` is the one permanent refusal (a record over the producer's size limit).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
