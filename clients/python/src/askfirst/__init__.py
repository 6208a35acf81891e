"""askfirst: the Python client for askfirst, the self-hosted approval gate for AI agents.

::

    import askfirst

    client = askfirst.Client()                       # ASKFIRST_URL, ASKFIRST_KEY

    @client.require_approval(risk=["production"])
    def deploy(service: str, env: str) -> str:
        ...                                          # runs once a person approved

    deploy("api", "production")                      # waits; raises askfirst.Denied if denied
"""

from . import webhooks
from ._core import __version__
from ._gate import current_call
from .aio import AsyncClient, AsyncEventStream
from .client import Client, EventStream
from .errors import (
    ArgsMismatch,
    AskfirstError,
    Cancelled,
    Denied,
    DoNotRetry,
    Expired,
    NotApproved,
    ReceiptError,
    Stale,
    Timeout,
    TransportError,
    WebhookError,
)
from .models import (
    ApprovedBy,
    Bypass,
    Call,
    CallEvent,
    Candidate,
    Decision,
    Denial,
    Escalation,
    Executed,
    Outcome,
    PreviewAnswer,
    PreviewTool,
    ReceiptClaims,
    Risk,
    Status,
)
from .receipts import ReceiptVerifier, averify_receipt, verify_receipt

__all__ = [
    "ApprovedBy",
    "ArgsMismatch",
    "AskfirstError",
    "AsyncClient",
    "AsyncEventStream",
    "Bypass",
    "Call",
    "CallEvent",
    "Cancelled",
    "Candidate",
    "Client",
    "Decision",
    "Denial",
    "Denied",
    "DoNotRetry",
    "Escalation",
    "EventStream",
    "Executed",
    "Expired",
    "NotApproved",
    "Outcome",
    "PreviewAnswer",
    "PreviewTool",
    "ReceiptClaims",
    "ReceiptError",
    "ReceiptVerifier",
    "Risk",
    "Stale",
    "Status",
    "Timeout",
    "TransportError",
    "WebhookError",
    "__version__",
    "averify_receipt",
    "current_call",
    "verify_receipt",
    "webhooks",
]
