"""What the sync and async clients share: configuration, request descriptions, error
decoding, the retry policy, the event-stream parser and the gate's verdicts. No I/O."""

import email.utils
import inspect
import json
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import (
    ArgsMismatch,
    AskfirstError,
    Cancelled,
    Denied,
    DoNotRetry,
    Expired,
    NotApproved,
    Stale,
    Timeout,
    TransportError,
)
from .models import Call, CallEvent, Status, status_sentence

__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:3000"
"""Where the client looks when neither ``base_url`` nor ``ASKFIRST_URL`` says."""
DEFAULT_TIMEOUT = 30.0
"""Seconds a request that does not long-poll may take."""
MAX_POLL_SECS = 60
"""The longest single long-poll the server allows."""
MIN_POLL_INTERVAL = 1.0
"""Shortest pause between two polls when the server answers early."""
DEADLINE_GRACE = 5.0
"""How long past the deadline a gate keeps waiting (clock skew, the server's sweeper)."""
NO_DEADLINE_WAIT = 3600.0
"""How long a gate waits when the server gave no deadline."""
MAX_RETRY_AFTER = 60.0
"""A ``Retry-After`` longer than this is not waited for: the error is raised."""
RETRY_BASE = 0.25
"""First backoff pause, doubled for each further retry (with jitter)."""
MAX_DETAIL = 2000
"""The longest outcome detail the server takes."""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Config:
    base_url: str
    api_key: str = field(repr=False)
    timeout: float
    retries: int
    session: str

    @staticmethod
    def build(
        base_url: Optional[str],
        api_key: Optional[str],
        timeout: float,
        retries: int,
        session: Optional[str],
    ) -> "Config":
        url = base_url or os.environ.get("ASKFIRST_URL") or DEFAULT_URL
        key = api_key or os.environ.get("ASKFIRST_KEY")
        if not key:
            raise ValueError(
                "no askfirst API key: pass api_key= or set ASKFIRST_KEY "
                "(an agent's key, from `askfirst agent create NAME`)"
            )
        if not visible_ascii(key):
            # Never echoed: the key is a secret, and httpx would put it in its message.
            raise ValueError(
                "the askfirst API key holds whitespace, a control character or a non-ASCII "
                "character (a trailing newline from a file?): strip it"
            )
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"askfirst URL {url!r} must start with http:// or https://")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        return Config(
            base_url=url.rstrip("/"),
            api_key=key,
            timeout=float(timeout),
            retries=int(retries),
            session=session or os.environ.get("ASKFIRST_SESSION") or f"py-{uuid.uuid4().hex}",
        )

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": f"askfirst-python/{__version__}",
            "Accept": "application/json",
        }


def visible_ascii(text: str) -> bool:
    """Whether ``text`` is made only of visible ASCII characters (``!`` to ``~``)."""
    return all("!" <= ch <= "~" for ch in text)


MAX_IDEMPOTENCY_KEY = 200
"""The longest ``Idempotency-Key`` the server takes."""


@dataclass
class Req:
    """One API request: what to send, whether it is safe to send again, and how long it
    may take."""

    method: str
    path: str
    what: str
    """How errors name it: ``POST /api/v1/calls``."""
    timeout: float
    idempotent: bool
    json: Any = None
    params: Optional[dict[str, Any]] = None
    headers: dict[str, str] = field(default_factory=dict)

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))


def call_path(call_id: str, action: str = "") -> str:
    if not isinstance(call_id, str) or call_id in ("", ".", ".."):
        raise ValueError(f"{call_id!r} is not a call id")
    return f"/api/v1/calls/{quote(call_id, safe='')}{action}"


def describe(method: str, path: str) -> str:
    return f"{method} {path}"


def propose_request(
    config: Config,
    tool: str,
    args: Mapping[str, Any],
    *,
    session: Optional[str],
    reason: Optional[str],
    risk: Optional[Sequence[str]],
    context: Optional[Mapping[str, Any]],
    alternatives: Optional[Sequence[str]],
    receipt: bool,
    idempotency_key: Optional[str],
    checkpoint: Any,
    callback_url: Optional[str],
    join_open: bool,
    run_if_allowed: bool,
) -> tuple[Req, dict[str, Any]]:
    if not isinstance(tool, str) or not tool:
        raise ValueError("tool must be a non-empty string")
    if not isinstance(args, Mapping):
        raise TypeError(f"args must be a mapping (a JSON object), not {type(args).__name__}")
    if isinstance(risk, str) or isinstance(alternatives, str):
        raise TypeError("risk and alternatives are lists of strings")
    body: dict[str, Any] = {
        "session": session or config.session,
        "tool": tool,
        "args": to_json(dict(args), what="args"),
    }
    if reason is not None:
        body["reason"] = reason
    if risk:
        body["risk"] = [str(r) for r in risk]
    if context is not None:
        body["context"] = to_json(dict(context), what="context")
    if alternatives:
        body["alternatives"] = list(alternatives)
    if checkpoint is not None:
        body["checkpoint"] = to_json(checkpoint, what="checkpoint")
    if callback_url is not None:
        body["callback_url"] = callback_url
    if join_open:
        body["join_open"] = True
    if run_if_allowed:
        body["run_if_allowed"] = True
    if receipt:
        body["receipt"] = True
    key = idempotency_key or new_idempotency_key()
    if not visible_ascii(key) or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValueError(
            "idempotency_key must be 1 to 200 visible ASCII characters "
            "(no spaces or control characters)"
        )
    path = "/api/v1/calls"
    req = Req(
        "POST",
        path,
        describe("POST", path),
        config.timeout,
        # Keyed: the server answers a repeat with the first answer and files nothing new.
        idempotent=True,
        json=body,
        headers={"Idempotency-Key": key},
    )
    return req, body


def new_idempotency_key() -> str:
    return f"py-{uuid.uuid4()}"


_jsonable: "TypeAdapter[Any]" = TypeAdapter(Any)


def to_json(value: Any, *, what: str) -> Any:
    """``value`` as plain JSON data (dicts, lists, strings, numbers, booleans, None):
    dataclasses, pydantic models, dates, enums, UUIDs and the like are converted the way
    pydantic serializes them."""
    try:
        plain = _jsonable.dump_python(value, mode="json")
        json.dumps(plain, allow_nan=False)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{what} must be JSON-serializable: {e}") from e
    return plain


def parse_model(model: type[M], resp: httpx.Response, what: str) -> M:
    try:
        return model.model_validate_json(resp.content)
    except ValidationError as e:
        raise AskfirstError(
            f"{what}: unexpected answer from askfirst: {e}", code="bad_response"
        ) from e


def parse_model_list(model: type[M], data: Any, what: str) -> list[M]:
    try:
        return [model.model_validate(item) for item in data]
    except (ValidationError, TypeError) as e:
        raise AskfirstError(
            f"{what}: unexpected answer from askfirst: {e}", code="bad_response"
        ) from e


def api_error(resp: httpx.Response, what: str) -> AskfirstError:
    """The error an answer with an error status stands for."""
    code, message = "http_error", ""
    request_id: Optional[str] = None
    retry_after: Optional[float] = retry_after_secs(resp)
    try:
        body = json.loads(resp.content)
        err = body["error"]
        code = str(err["code"])
        message = str(err.get("message", ""))
        request_id = err.get("request_id")
        if err.get("retry_after") is not None and retry_after is None:
            retry_after = float(err["retry_after"])
    except (ValueError, KeyError, TypeError):
        text = resp.content[:300].decode("utf-8", "replace").strip()
        message = text or (resp.reason_phrase or "no body")
    return AskfirstError(
        f"{what}: {message}",
        code=code,
        status=resp.status_code,
        request_id=request_id,
        retry_after=retry_after,
    )


def retry_after_secs(resp: httpx.Response) -> Optional[float]:
    """The answer's ``Retry-After`` in seconds (delta or HTTP date), if it has one."""
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_pause(resp: Optional[httpx.Response], attempt: int) -> Optional[float]:
    """Seconds to pause before sending a request again (``None``: do not). ``resp`` is
    the answer, ``None`` when the request failed in transit."""
    backoff = min(RETRY_BASE * (2.0**attempt), 8.0) * (0.5 + random.random() / 2)
    if resp is None:
        return backoff
    after = retry_after_secs(resp)
    if resp.status_code in (502, 503, 504) or (resp.status_code == 429 and after is not None):
        if after is None:
            return backoff
        return after if after <= MAX_RETRY_AFTER else None
    return None


def transport_error(e: httpx.TransportError, req: Req, base_url: str) -> AskfirstError:
    """``e`` in words that say what failed, and where. A request httpx refused to send
    (``LocalProtocolError``: an illegal header value, say) is named without httpx's words,
    which may quote a header — the API key."""
    if isinstance(e, httpx.LocalProtocolError):
        return AskfirstError(
            f"{req.what} to askfirst at {base_url} could not be sent: httpx refused the "
            "request (an illegal header value?)",
            code="bad_request",
        )
    if isinstance(e, httpx.TimeoutException):
        phase = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the answer",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(e), "in transit")
        limit = min(req.timeout, 10.0) if isinstance(e, httpx.ConnectTimeout) else req.timeout
        return Timeout(
            f"{req.what} to askfirst at {base_url} timed out {phase} "
            f"(limit {limit:g} s per request)"
        )
    detail = str(e) or type(e).__name__
    return TransportError(f"{req.what} to askfirst at {base_url} failed: {detail}")


def sanitize_detail(text: str) -> str:
    """An outcome detail the server takes: control characters (but tab and newline)
    removed, at most 2,000 characters."""
    cleaned = "".join(
        ch for ch in text if ch in "\t\n" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F)
    )
    if len(cleaned) > MAX_DETAIL:
        cleaned = cleaned[: MAX_DETAIL - 1] + "…"
    return cleaned


def describe_exception(e: BaseException) -> str:
    return sanitize_detail(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


# --- The gate's verdicts ----------------------------------------------------------------


def proposed_call(answer: Call, body: Mapping[str, Any]) -> Call:
    """The proposal's answer with what was proposed filled in (the answer itself carries
    only the server's verdict)."""
    updates: dict[str, Any] = {}
    if not answer.tool:
        updates["tool"] = body["tool"]
    if not answer.session:
        updates["session"] = body["session"]
    if not answer.args:
        updates["args"] = dict(body["args"])
    if not answer.proposed_args:
        updates["proposed_args"] = dict(body["args"])
    for name in ("reason", "context", "checkpoint", "callback_url"):
        if getattr(answer, name) is None and body.get(name) is not None:
            updates[name] = body[name]
    if not answer.alternatives and body.get("alternatives"):
        updates["alternatives"] = list(body["alternatives"])
    return answer.model_copy(update=updates) if updates else answer


def refusal(call: Call) -> Optional[NotApproved]:
    """The exception for a call that will not run (``None`` if it may run or is still
    pending)."""
    denial = call.denial
    if denial is not None and denial.repeat_of:
        return DoNotRetry(
            call,
            denial.feedback or call.feedback,
            reason_code=denial.reason_code,
            retry=denial.retry,
            repeat_of=denial.repeat_of,
        )
    status = call.status
    if status is Status.DENIED:
        if denial is not None:
            return Denied(
                call,
                denial.feedback or call.feedback,
                reason_code=denial.reason_code,
                retry=denial.retry,
                repeat_of=denial.repeat_of,
            )
        by_policy = not any(d.decision == "deny" for d in call.decisions)
        feedback = call.feedback
        if by_policy and not (call.message or "").strip():
            feedback = f"denied by policy rule `{call.rule}`" if call.rule else "denied by policy"
        return Denied(call, feedback, retry=not by_policy, by_policy=by_policy)
    if status is Status.EXPIRED:
        return Expired(call, call.feedback)
    if status is Status.CANCELLED:
        return Cancelled(call, call.feedback)
    if status is Status.STALE:
        return Stale(call, status_sentence(Status.STALE))
    return None


def runnable_or_raise(call: Call) -> Call:
    """``call`` if it may run now; the matching exception otherwise."""
    if call.status.runnable or call.status is Status.RUNNING:
        return call
    err = refusal(call)
    if err is not None:
        raise err
    raise AskfirstError(
        f"call {call.id} is {call.status.value}: it cannot run now", code="not_runnable"
    )


def seconds_until(deadline: Optional[datetime]) -> Optional[float]:
    if deadline is None:
        return None
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=timezone.utc)
    return (deadline - datetime.now(timezone.utc)).total_seconds()


def gate_budget(deadline: Optional[datetime], grace: float) -> float:
    """Seconds to wait for people: until the deadline plus grace."""
    left = seconds_until(deadline)
    if left is None:
        return NO_DEADLINE_WAIT
    return max(0.0, left) + grace


def expired_after_wait(call: Call) -> Expired:
    return Expired(call, status_sentence(Status.EXPIRED, call.deadline))


def caller_timeout(call: Call, timeout: float) -> Timeout:
    return Timeout(
        f"nobody decided call {call.id} ({call.tool or 'tool'}) within the {timeout:g} s "
        "the caller allowed; the call was withdrawn",
        call=call,
    )


def monotonic() -> float:
    return time.monotonic()


# --- Server-Sent Events -------------------------------------------------------------------


def not_an_event_stream(resp: httpx.Response, what: str, base_url: str) -> Optional[AskfirstError]:
    """The error for an answer below 400 that is no event stream (a redirect, a login page
    in between): reconnecting would only get it again. ``None`` for a ``200`` event
    stream."""
    media = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if resp.status_code == 200 and media == "text/event-stream":
        return None
    if 300 <= resp.status_code < 400:
        where = resp.headers.get("location")
        got = f"a redirect ({resp.status_code}) to {where}" if where else "a redirect"
    else:
        got = f"{resp.status_code} {media or 'without a content type'}"
    return AskfirstError(
        f"{what}: {base_url} answered {got}, not an event stream: is it the askfirst server "
        "(ASKFIRST_URL), with nothing in between that redirects or rewrites?",
        code="bad_response",
        status=resp.status_code,
    )


def ended_at_once(what: str, times: int) -> AskfirstError:
    return AskfirstError(
        f"{what}: askfirst ended the event stream before sending anything, {times} times in a row",
        code="bad_response",
    )


EVENT_STREAM_END_PAUSE = RETRY_BASE
"""The pause before reopening an event stream that ended after it had sent something."""


class SSEParser:
    """Turns the lines of a ``text/event-stream`` into ``call`` events. Comments,
    keep-alives and events of other types are skipped; ids persist until changed, as the
    SSE specification says."""

    def __init__(self) -> None:
        self.last_id: Optional[str] = None
        self._event = ""
        self._data: list[str] = []
        self._has_data = False

    def feed(self, line: str) -> Optional[CallEvent]:
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> Optional[CallEvent]:
        event, data, has_data = self._event or "message", "\n".join(self._data), self._has_data
        self._event, self._data, self._has_data = "", [], False
        if not has_data or event != "call":
            return None
        raw_id = (self.last_id or "").strip()
        try:
            event_id = int(raw_id)
        except ValueError:
            raise AskfirstError(
                f"event stream: event id {raw_id[:40]!r} is not a number", code="bad_response"
            ) from None
        try:
            call = Call.model_validate_json(data)
        except ValidationError as e:
            raise AskfirstError(
                f"event stream: event {event_id} is not a call: {e}", code="bad_response"
            ) from e
        return CallEvent(id=event_id, call=call)


# --- Binding a function's arguments -----------------------------------------------------

_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    try:
        inner: Callable[..., Any] = inspect.unwrap(fn)
        return inner
    except ValueError:  # a cycle of __wrapped__
        return fn


def defined_in_class(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` was defined in a class body (``Tools.restart``, not ``outer.<locals>.f``
    nor a module-level function)."""
    qualname = getattr(fn, "__qualname__", "") or ""
    head, dot, _ = qualname.rpartition(".")
    return bool(dot) and not head.endswith("<locals>")


def gate_is_async(fn: Callable[..., Any]) -> bool:
    """Whether a gated ``fn`` is awaited (an ``async def``, also behind a wrapper that says
    ``__wrapped__``, or an object with an ``async def __call__``). Refuses what a gate cannot
    run once with the approved arguments: generator functions, and ``staticmethod`` or
    ``classmethod`` objects (put those decorators above the gate)."""
    if isinstance(fn, (staticmethod, classmethod)):
        raise TypeError(
            f"put @{type(fn).__name__} above the askfirst gate, not below it: "
            "the gate wraps the function itself"
        )
    if not callable(fn):
        raise TypeError(f"the askfirst gate wraps a function, not {type(fn).__name__}")
    inner = _unwrapped(fn)
    for f in (fn, inner):
        if inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f):
            name = getattr(fn, "__qualname__", repr(fn))
            raise TypeError(
                f"{name} is a generator function: its body runs only as it is iterated, so "
                "the gate could not say when it ran or how it went; gate a function that "
                "does the work instead"
            )
    return (
        inspect.iscoroutinefunction(fn)
        or inspect.iscoroutinefunction(inner)
        or (not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__))
    )


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__qualname__
    return repr(hint).replace("typing.", "")


def _problems(e: ValidationError) -> str:
    errors = e.errors(include_url=False)
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ()))
        got = repr(err.get("input"))
        if len(got) > 60:
            got = got[:57] + "..."
        parts.append(f"{loc + ': ' if loc else ''}{err['msg']} (got {got})")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts)


Check = tuple[str, "TypeAdapter[Any]"]
"""A parameter's annotation, named, and its validator."""


class Binder:
    """Maps a function's arguments to the JSON object proposed, and the approved JSON
    object back to arguments — typed again by the function's annotations, so a date or a
    pydantic model arrives as one.

    Approved values are validated in pydantic's strict JSON mode: whatever a value's JSON
    form is (an ISO date, a UUID string, an enum's value, a list for a tuple or a set, an
    object for a model …) parses, but nothing is converted lossily (``"010"`` is no
    ``int``, ``"false"`` no ``bool``, ``2.0`` no ``int``). A parameter whose default is
    ``None`` takes ``None`` too. Annotations are resolved when the gate is made or, if they
    name something not defined yet, at the first call; one that still cannot be resolved,
    or that pydantic cannot check, is a ``TypeError`` before anything is proposed — never
    silently unchecked."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name: str = getattr(fn, "__qualname__", None) or repr(fn)
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        # A method's `self` (or `cls`) is no argument of the call: it is passed through. Only
        # for a function defined in a class body: elsewhere a parameter named `cls` is an
        # argument like any other, and is proposed.
        self.receiver: Optional[str] = None
        first = params[0] if params else None
        if (
            first is not None
            and first.kind in _BY_POSITION
            and first.name in ("self", "cls")
            and defined_in_class(fn)
        ):
            self.receiver = first.name
        self._adapters: Optional[dict[str, Check]] = None
        self._adapters_for(at_call=False)

    # -- annotations

    def _adapters_for(self, *, at_call: bool) -> dict[str, "Check"]:
        """The validators of the parameters' annotations (for ``*args`` and ``**kwargs``:
        of each value). Unresolvable annotations are tried again at the first call, and
        refused there."""
        if self._adapters is not None:
            return self._adapters
        try:
            hints = self._hints()
        except Exception as e:
            if not at_call:
                return {}
            raise TypeError(
                f"the annotations of {self.name} cannot be resolved ({type(e).__name__}: {e}), "
                "so approved arguments could not be checked against them; nothing was proposed"
            ) from e
        adapters: dict[str, Check] = {}
        for name, hint in hints.items():
            try:
                adapters[name] = (_type_name(hint), TypeAdapter(hint))
            except Exception as e:
                raise TypeError(
                    f"parameter {name!r} of {self.name} is annotated {_type_name(hint)}, which "
                    f"pydantic cannot check approved values against: {e}"
                ) from e
        self._adapters = adapters
        return adapters

    def _hints(self) -> dict[str, Any]:
        import types
        import typing

        globalns = getattr(_unwrapped(self.fn), "__globals__", {})
        hints: dict[str, Any] = {}
        for name, param in self.signature.parameters.items():
            if name == self.receiver or param.annotation is inspect.Parameter.empty:
                continue
            # One parameter at a time: an unresolvable `self` or return annotation does not
            # matter here.
            holder = types.SimpleNamespace(__annotations__={name: param.annotation})
            hint = typing.get_type_hints(holder, globalns=globalns, include_extras=True)[name]
            if hint is Any:
                continue
            if param.default is None:
                hint = Optional[hint]
            hints[name] = hint
        return hints

    # -- both ways

    def to_args(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        """The JSON object to propose, and what is passed through as it is (a method's
        ``self``). Raises ``TypeError`` (nothing is proposed) when the arguments do not
        bind, or a ``**kwargs`` key is also a parameter's name."""
        self._adapters_for(at_call=True)
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        out: dict[str, Any] = {}
        passthrough: list[Any] = []
        for name, value in bound.arguments.items():
            if name == self.receiver:
                passthrough.append(value)
                continue
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                clash = sorted(k for k in value if k in self.signature.parameters)
                if clash:
                    names = ", ".join(repr(k) for k in clash)
                    raise TypeError(
                        f"{self.name}() got {names} both as a parameter and in **{name}: "
                        "a proposal can hold only one of them"
                    )
                out.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                out[name] = list(value)
            else:
                out[name] = value
        result = to_json(out, what=f"the arguments of {self.name}")
        assert isinstance(result, dict)
        return result, passthrough

    def from_args(
        self, approved: Mapping[str, Any], passthrough: Sequence[Any] = ()
    ) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function, from the approved JSON
        object. Raises :class:`~askfirst.ArgsMismatch` (a ``TypeError``) when they do not
        fit the function: every parameter must be there (a proposal holds them all,
        defaults included — a removed one is not filled in by its default), none it does
        not take, and each value must fit its annotation."""
        adapters = self._adapters_for(at_call=True)
        remaining = dict(approved)
        positional: list[Any] = list(passthrough)
        keywords: dict[str, Any] = {}
        var_keyword: Optional[str] = None
        has_var_positional = any(
            p.kind is inspect.Parameter.VAR_POSITIONAL for p in self.signature.parameters.values()
        )
        for name, param in self.signature.parameters.items():
            kind = param.kind
            if name == self.receiver:
                continue
            if kind is inspect.Parameter.VAR_KEYWORD:
                var_keyword = name
                continue
            if name not in remaining:
                raise ArgsMismatch(
                    f"the approved arguments lack {name!r}, so {self.name} was not run "
                    "(its default is not put in for an argument an approver removed)"
                )
            value = remaining.pop(name)
            if kind is inspect.Parameter.VAR_POSITIONAL:
                if not isinstance(value, list):
                    raise ArgsMismatch(
                        f"the approved argument {name!r} must be a list, so {self.name} was not run"
                    )
                positional.extend(
                    self._typed(adapters, name, v, f"{name}[{i}]") for i, v in enumerate(value)
                )
                continue
            value = self._typed(adapters, name, value, repr(name))
            if kind is inspect.Parameter.POSITIONAL_ONLY or (
                kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and has_var_positional
            ):
                positional.append(value)
            else:
                keywords[name] = value
        if remaining:
            names = ", ".join(sorted(remaining))
            if var_keyword is None:
                raise ArgsMismatch(
                    f"the approved arguments have ones {self.name} does not take: {names}; "
                    "it was not run"
                )
            if self.receiver is not None and self.receiver in remaining:
                raise ArgsMismatch(
                    f"the approved arguments name {self.receiver!r}, the method's receiver; "
                    f"{self.name} was not run"
                )
            for key, value in remaining.items():
                keywords[key] = self._typed(adapters, var_keyword, value, repr(key))
        return positional, keywords

    def _typed(self, adapters: Mapping[str, "Check"], name: str, value: Any, what: str) -> Any:
        check = adapters.get(name)
        if check is None:
            return value
        type_name, adapter = check
        try:
            # Strict, from JSON: a value's JSON form parses (dates, UUIDs, enums, models …);
            # lossy conversions ("010" → 10, "false" → False, 2.0 → 2) are refused.
            return adapter.validate_json(json.dumps(value), strict=True)
        except ValidationError as e:
            raise ArgsMismatch(
                f"the approved argument {what} does not fit its annotation {type_name}: "
                f"{_problems(e)}; {self.name} was not run"
            ) from None
