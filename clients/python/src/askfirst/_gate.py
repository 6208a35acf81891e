"""What the decorators and the LangChain wrapper share: the options of a gated call and
the call the running function belongs to."""

import asyncio
import contextvars
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from .errors import ArgsMismatch
from .models import Call, Outcome

if TYPE_CHECKING:
    from ._core import Binder

T = TypeVar("T")

_current: "contextvars.ContextVar[Optional[Call]]" = contextvars.ContextVar(
    "askfirst_current_call", default=None
)


def current_call() -> Optional[Call]:
    """Inside a function gated by ``require_approval`` (or a ``gated`` LangChain tool): the
    approved call it runs for — its ``id``, ``args`` as approved, ``approved_by`` and
    ``receipt`` (to hand to a tool server that checks receipts). ``None`` elsewhere."""
    return _current.get()


@dataclass(frozen=True)
class GateOptions:
    """How a gated function's calls are proposed."""

    session: Optional[str] = None
    reason: Optional[str] = None
    risk: Optional[Sequence[str]] = None
    context: Optional[Mapping[str, Any]] = None
    alternatives: Optional[Sequence[str]] = None
    receipt: bool = False
    timeout: Optional[float] = None
    """Seconds to wait for people at most; ``None``: until the deadline (and its
    extensions)."""


def failed_outcome(_: BaseException) -> Outcome:
    """How an exception from a gated function is reported: it ran without a result."""
    return Outcome.FAILED


Classify = Callable[[BaseException], Outcome]
"""Chooses the outcome reported for an exception the gated function raised."""


CALLER_GONE = "the caller was cancelled before the function ran"
"""The outcome detail of a call executed for a caller that was cancelled meanwhile."""


def caller_gone() -> BaseException:
    """What a call executed for a caller that was cancelled meanwhile is reported failed
    with (the function never ran)."""
    return asyncio.CancelledError(CALLER_GONE)


async def settle(
    aw: Awaitable[T],
) -> "tuple[asyncio.Future[T], Optional[asyncio.CancelledError]]":
    """Runs ``aw`` to its end even when the task awaiting it is cancelled meanwhile:
    returns it, done, and the first cancellation that came in (for the caller to re-raise
    once it has cleaned up)."""
    fut = asyncio.ensure_future(aw)
    cancelled: Optional[asyncio.CancelledError] = None
    while not fut.done():
        try:
            # Unlike awaiting it, wait() does not cancel `fut` when this task is cancelled.
            await asyncio.wait({fut})
        except asyncio.CancelledError as e:
            if cancelled is None:
                cancelled = e
    return fut, cancelled


def retrieve(fut: "asyncio.Future[Any]") -> None:
    """A done callback that marks an exception nobody waits for any more as seen."""
    if not fut.cancelled():
        fut.exception()


def approved_arguments(
    binder: "Binder", call: Call, passthrough: Sequence[Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The gated function's arguments from the approved call; :class:`ArgsMismatch` (with
    the call) when they do not fit it."""
    try:
        return binder.from_args(call.args, passthrough)
    except ArgsMismatch as e:
        e.call = call
        raise


def refuse_coroutine(result: Any, name: str) -> None:
    """A gated plain function that returned a coroutine: its body never ran."""
    if asyncio.iscoroutine(result):
        result.close()
        raise TypeError(
            f"{name} returned a coroutine, so its body never ran: gated as a plain function, "
            "it was not awaited; declare it `async def` (or gate the coroutine function "
            "itself)"
        )
