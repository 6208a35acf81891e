"""What the decorators and the LangChain wrapper share: the options of a gated call and
the call the running function belongs to."""

import contextvars
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .models import Call, Outcome

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
