"""Everything that can go wrong talking to askfirst, as exceptions.

::

    AskfirstError                 code, status, message (API errors: the server's own code)
    ├── TransportError            the request did not complete (connection refused, reset …)
    ├── Timeout                   something took too long, the message says what (a TimeoutError)
    ├── ArgsMismatch              the approved arguments do not fit the gated function (a TypeError)
    ├── NotApproved               the call will not run; ``call`` is how it ended
    │   ├── Denied                feedback, reason_code, retry, repeat_of
    │   │   └── DoNotRetry        a repeat the policy refused at once (a person said "do not retry")
    │   ├── Expired               nobody decided before the deadline
    │   ├── Cancelled             the call was withdrawn
    │   └── Stale                 the approval ran out before the call could run
    ├── WebhookError              a webhook delivery failed verification
    └── ReceiptError              a receipt does not hold for the call about to run
"""

import builtins
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .models import Call


class AskfirstError(Exception):
    """An error from askfirst or from talking to it.

    For an API error, ``status`` is the HTTP status and ``code`` the server's stable code
    (``not_found``, ``approval_stale``, ``too_many_pending`` …); otherwise ``status`` is
    ``None`` and ``code`` names what went wrong (``connection_error``, ``timeout``,
    ``bad_response`` …).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: Optional[int] = None,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        if self.status is not None:
            return f"askfirst answered {self.status} {self.code}: {self.message}"
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class TransportError(AskfirstError):
    """The request did not complete: the connection was refused, reset or cut."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="connection_error")


class Timeout(AskfirstError, builtins.TimeoutError):
    """Something took too long; the message says what (a request and which of its phases,
    or the wait for people)."""

    def __init__(self, message: str, *, call: "Optional[Call]" = None) -> None:
        AskfirstError.__init__(self, message, code="timeout")
        self.call = call


class ArgsMismatch(AskfirstError, builtins.TypeError):
    """The approved arguments do not fit the gated function: a parameter is missing (an
    approver deleted it), one the function does not take was added, or a value does not
    fit the parameter's annotation without a lossy conversion (``"010"`` for an ``int``,
    ``"false"`` for a ``bool``, ``2.0`` for an ``int`` …). The function did not run and
    the call was reported ``failed`` with this message. ``call`` is the approved call."""

    def __init__(self, message: str, *, call: "Optional[Call]" = None) -> None:
        AskfirstError.__init__(self, message, code="args_mismatch")
        self.call = call


class NotApproved(AskfirstError):
    """The call will not run. ``call`` is the call as it ended; ``feedback`` says why, in
    words an agent loop can reflect on."""

    def __init__(self, call: "Call", feedback: str, *, code: str) -> None:
        super().__init__(feedback, code=code)
        self.call = call
        self.call_id = call.id
        self.feedback = feedback

    def __str__(self) -> str:
        return f"call {self.call_id} ({self.call.tool or 'tool'}): {self.feedback}"


class Denied(NotApproved):
    """A person, or policy, denied the call.

    ``retry`` is ``False`` when proposing the same call again is pointless: a person said
    "do not retry" (a repeat is denied at once), or policy denied it (``by_policy``).
    """

    def __init__(
        self,
        call: "Call",
        feedback: str,
        *,
        reason_code: Optional[str] = None,
        retry: bool = True,
        repeat_of: Optional[str] = None,
        by_policy: bool = False,
    ) -> None:
        super().__init__(call, feedback, code="denied")
        self.reason_code = reason_code
        self.retry = retry
        self.repeat_of = repeat_of
        self.by_policy = by_policy


class DoNotRetry(Denied):
    """A repeat of a call a person denied with "do not retry": refused at once, without
    reaching anyone. ``repeat_of`` names the call whose denial it repeats."""


class Expired(NotApproved):
    """Nobody decided before the deadline (extensions included)."""

    def __init__(self, call: "Call", feedback: str) -> None:
        super().__init__(call, feedback, code="expired")


class Cancelled(NotApproved):
    """The call was withdrawn before anyone decided."""

    def __init__(self, call: "Call", feedback: str) -> None:
        super().__init__(call, feedback, code="cancelled")


class Stale(NotApproved):
    """The approval ran out before the call could run (twice in a row)."""

    def __init__(self, call: "Call", feedback: str) -> None:
        super().__init__(call, feedback, code="stale")


class WebhookError(AskfirstError):
    """A webhook delivery failed verification. ``code``: ``missing_header``,
    ``malformed_header``, ``missing_signature``, ``timestamp`` or ``mismatch`` (or
    ``bad_body`` when the verified body is not what was expected)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


class ReceiptError(AskfirstError):
    """A receipt does not hold for the call about to run. ``code``: ``malformed``,
    ``unknown_key``, ``bad_signature``, ``expired``, ``not_yet_valid``, ``wrong_issuer``,
    ``wrong_tool``, ``wrong_args``, ``unsafe_integer`` (the arguments hold an integer beyond
    ±(2**53 - 1), which a receipt cannot bind: send it as a string), ``replayed``,
    ``too_many_remembered`` (``verify_once`` holds its limit of unexpired receipts) or
    ``keys_unavailable``."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
