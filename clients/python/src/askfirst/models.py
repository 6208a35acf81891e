"""The server's answers as pydantic models, matching the OpenAPI document served at
`/api/v1/openapi.json`. Unknown fields are kept (``model_extra``) and most fields default
when absent, so a newer server keeps working with this client."""

import enum
from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class Status(str, enum.Enum):
    """Where a call is in its life."""

    ALLOWED = "allowed"
    """Policy allowed it: execute now."""
    DENIED = "denied"
    """Policy denied it, or a person did."""
    PENDING = "pending"
    """Waiting for people."""
    APPROVED = "approved"
    """Enough people approved; execute before the approval expires."""
    EXPIRED = "expired"
    """Nobody decided before the deadline."""
    CANCELLED = "cancelled"
    """The agent withdrew it."""
    EXECUTED = "executed"
    """The agent reported execution."""
    STALE = "stale"
    """The approval expired unused: propose again."""
    RUNNING = "running"
    """Started by an agent that will report the outcome."""
    FAILED = "failed"
    """Started, and ended without a result."""
    UNKNOWN = "unknown"
    """A status this client does not know (a newer server)."""

    @classmethod
    def _missing_(cls, value: object) -> "Status":
        return cls.UNKNOWN

    @property
    def runnable(self) -> bool:
        """Whether the call may be executed now (``allowed`` or ``approved``)."""
        return self in (Status.ALLOWED, Status.APPROVED)

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    """How running a call went (``POST /api/v1/calls/{id}/outcome``)."""

    SUCCEEDED = "succeeded"
    """The tool returned a result."""
    TOOL_ERROR = "tool_error"
    """The tool returned an error of its own."""
    FAILED = "failed"
    """No result: a crash, a timeout, a lost connection."""
    UNKNOWN = "unknown"
    """An outcome this client does not know (a newer server)."""

    @classmethod
    def _missing_(cls, value: object) -> "Outcome":
        return cls.UNKNOWN

    def __str__(self) -> str:
        return self.value


class Risk:
    """The risk classes askfirst knows. An agent may claim them; policy may add more."""

    DESTRUCTIVE = "destructive"
    IRREVERSIBLE = "irreversible"
    FINANCIAL = "financial"
    CUSTOMER_FACING = "customer_facing"
    PRODUCTION = "production"
    EXTERNAL_COMMS = "external_comms"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Denial(_Model):
    """A person's denial, as the agent must respect it."""

    feedback: str = ""
    """The approver's words."""
    reason_code: Optional[str] = None
    """The preset reason they picked (e.g. ``out_of_scope``), if any."""
    retry: bool = True
    """``False``: do not propose this call again; a repeat is denied at once for a while."""
    repeat_of: Optional[str] = None
    """For a repeat answered at once: the call whose denial it repeats."""


class ApprovedBy(_Model):
    """Who or what approved a call: exactly one of the fields is set."""

    people: Optional[list[str]] = None
    """The people whose approvals counted."""
    bypass: Optional[int] = None
    """An active bypass (its number), signed off by managers."""
    grant: Optional[int] = None
    """A remembered grant (its number): one approver's earlier word."""


class Decision(_Model):
    """One person's review of a call."""

    user: str = ""
    decision: str = ""
    """``approve`` or ``deny``."""
    feedback: Optional[str] = None
    edited_args: bool = False
    """Whether this person made the version they reviewed (edited the arguments)."""
    version: int = 0
    """The version of the arguments reviewed (1 is the proposal; each edit adds one)."""
    current: bool = False
    """Whether that is the current version."""
    counts: bool = False
    """Whether this approval counts now."""
    at: Optional[datetime] = None


class Candidate(_Model):
    """The arguments people are reviewing now, and the hash a review of them names."""

    version: int
    args: dict[str, Any]
    hash: str


class Escalation(_Model):
    """The deadline passed and the call moved to a fallback audience."""

    at: datetime
    to: str
    """As the rule names it: ``manager``, ``group:oncall``."""
    to_text: str = ""


class Call(_Model):
    """A call as its agent sees it (``GET /api/v1/calls/{id}``, events, webhooks).

    A ``Call`` returned by :meth:`askfirst.Client.propose` carries the proposal's answer
    (``id``, ``status``, ``rule``, ``risk``, ``deadline``, ``denial``, ``receipt`` …) with
    the ``tool``, ``session`` and ``args`` that were proposed; :meth:`askfirst.Client.get`
    returns every field.
    """

    id: str
    status: Status
    agent: str = ""
    session: str = ""
    tool: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    """The arguments to execute: as approved, possibly edited by an approver."""
    proposed_args: dict[str, Any] = Field(default_factory=dict)
    """The arguments as proposed."""
    candidate: Optional[Candidate] = None
    reason: Optional[str] = None
    context: Optional[dict[str, Any]] = None
    risk: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)
    rule: Optional[str] = None
    """The policy rule that decided; ``None`` when the default effect did."""
    message: Optional[str] = None
    """Policy's message (why it was denied)."""
    approvals_required: Optional[int] = None
    approvals: int = 0
    decisions: list[Decision] = Field(default_factory=list)
    confirm: Optional[str] = None
    """Typed confirmation an approver must enter, if any."""
    deadline: Optional[datetime] = None
    extensions: int = 0
    """Times an approver extended the deadline."""
    escalated: Optional[Escalation] = None
    denial: Optional[Denial] = None
    """A person's denial: feedback, preset reason, and whether to retry."""
    approval_expires_at: Optional[datetime] = None
    approved_by: Optional[ApprovedBy] = None
    checkpoint: Any = None
    """What the agent stored with the proposal (async gates)."""
    callback_url: Optional[str] = None
    created_at: Optional[datetime] = None
    decided_at: Optional[datetime] = None
    executed_at: Optional[datetime] = None
    outcome: Optional[Outcome] = None
    outcome_detail: Optional[str] = None
    finished_at: Optional[datetime] = None
    receipt: Optional[str] = None
    """While the call may run: the signed receipt (compact JWS) for the tool server."""

    @property
    def feedback(self) -> str:
        """Why the call will not run, in words an agent loop can reflect on: the denying
        person's feedback, policy's message, or what happened."""
        for d in reversed(self.decisions):
            if d.decision == "deny":
                if d.feedback and d.feedback.strip():
                    return d.feedback
                if self.status is Status.DENIED:
                    return f"{d.user} denied the call without feedback"
                break
        if self.denial is not None and self.denial.feedback.strip():
            return self.denial.feedback
        if self.message and self.message.strip():
            return self.message
        return status_sentence(self.status, self.deadline)

    def raise_for_status(self) -> "Call":
        """This call if it may run now (``allowed``, ``approved``, or ``running``); otherwise
        raises what became of it: :class:`~askfirst.Denied` (:class:`~askfirst.DoNotRetry`),
        :class:`~askfirst.Expired`, :class:`~askfirst.Cancelled`, :class:`~askfirst.Stale`,
        or :class:`~askfirst.AskfirstError` (``not_runnable``) for one still pending or
        already executed. For async gates: check the call a webhook or event brought."""
        from ._core import runnable_or_raise

        return runnable_or_raise(self)


def status_sentence(status: Status, deadline: Optional[datetime] = None) -> str:
    """A sentence saying what a status means for the agent."""
    if status is Status.EXPIRED:
        if deadline is not None:
            when = deadline.isoformat().replace("+00:00", "Z")
            return f"the call expired: nobody decided before the deadline ({when})"
        return "the call expired: nobody decided before the deadline"
    sentences = {
        Status.DENIED: "the call was denied",
        Status.CANCELLED: "the call was cancelled",
        Status.STALE: "the approval expired before the call ran; propose it again",
        Status.EXECUTED: "the call was already executed",
    }
    return sentences.get(status, f"the call is {status.value}")


class Executed(_Model):
    """``200`` answer to ``execute``: run the tool with exactly these arguments, once."""

    id: str
    status: Status = Status.EXECUTED
    args: dict[str, Any] = Field(default_factory=dict)
    """The arguments to run with (possibly edited by an approver)."""


class CallEvent(_Model):
    """A call leaving ``pending``, from :meth:`askfirst.Client.events`."""

    id: int
    """The event id: pass the last one seen as ``last_event_id`` to resume after it."""
    call: Call


class Bypass(_Model):
    """An active bypass covering this agent (``GET /api/v1/bypasses``)."""

    id: int
    scope: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    include_confirmation: bool = False
    reason: str = ""
    requester: str = ""
    approved_by: list[str] = Field(default_factory=list)
    ends_at: Optional[datetime] = None


class PreviewTool(_Model):
    """A tool to ask policy about (``POST /api/v1/policy/preview``)."""

    tool: str
    params: Optional[list[str]] = None
    """The names of the arguments it takes; ``None``: any argument may be present."""
    risk: list[str] = Field(default_factory=list)
    """Risk classes every call of it would claim."""


class PreviewAnswer(_Model):
    """What policy would do with calls of one tool."""

    tool: str
    decision: str
    """``allow``, ``gate``, ``deny`` or ``depends``."""
    outcomes: list[str] = Field(default_factory=list)


class ReceiptApprover(_Model):
    """One person's approval, in a receipt."""

    username: str
    at: int
    """When they approved (Unix seconds)."""


class ReceiptDecision(_Model):
    """Who or what let a call through, in a receipt."""

    by: str
    """``people``, ``policy``, ``bypass`` or ``grant``."""
    rule: Optional[str] = None
    approvers: list[ReceiptApprover] = Field(default_factory=list)
    bypass: Optional[str] = None
    grant: Optional[str] = None


class AuditRef(_Model):
    """The audit event behind a receipt."""

    id: int
    hash: str


class ReceiptClaims(_Model):
    """What a verified receipt says."""

    iss: str
    """The askfirst server's public URL."""
    sub: str
    """The call's id."""
    aud: str
    """The tool, as proposed."""
    jti: str
    """This receipt's unique id (``<call>.<audit event>``)."""
    iat: int
    nbf: int
    exp: int
    """No longer valid for execution after this (Unix seconds)."""
    agent: str
    tool: str
    args_sha256: str
    """Hex SHA-256 of the RFC 8785 canonical JSON of the arguments to execute."""
    decision: ReceiptDecision
    policy_version: int
    audit: AuditRef
