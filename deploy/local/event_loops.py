"""Running one coroutine to completion from synchronous launcher code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """Run ``factory()`` on a new event loop in a worker thread and return its result.

    The worker thread keeps the caller's event-loop state untouched (``asyncio.run`` in the
    calling thread would reset it, which breaks a test session's shared loop). Raises
    ``TimeoutError`` after ``timeout`` seconds; the coroutine is then left to finish on its own.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="launcher-loop")
    try:
        return pool.submit(lambda: asyncio.run(factory())).result(timeout)
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"gave up after {timeout:.0f} s") from None
    finally:
        pool.shutdown(wait=False)
