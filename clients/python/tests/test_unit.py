"""Pieces that need no server: the event-stream parser, argument binding, retry pauses,
webhook secrets and the numbers a receipt can bind."""

import email.utils
import enum
import functools
import hashlib
import inspect
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Optional

import httpx
import pytest
import rfc8785
from pydantic import BaseModel

import askfirst
from askfirst import _core, receipts, webhooks


def feed(lines: list[str]) -> list[askfirst.CallEvent]:
    parser = _core.SSEParser()
    out = []
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            out.append(event)
    return out


def test_sse_parser_reads_call_events_only() -> None:
    events = feed(
        [
            ":",
            "",
            "id: 7",
            "event: call",
            'data: {"id":"c1","status":"approved",',
            'data: "checkpoint":{"step":2}}',
            "",
            "event: ping",
            "data: {}",
            "",
            'data: {"id":"c0","status":"denied"}',
            "",
            "event: call",
            'data: {"id":"c2","status":"something_new"}',
            "",
        ]
    )
    assert [(e.id, e.call.id) for e in events] == [(7, "c1"), (7, "c2")]
    assert events[0].call.checkpoint == {"step": 2}
    assert events[1].call.status is askfirst.Status.UNKNOWN


def test_sse_parser_refuses_a_bad_id_or_body() -> None:
    with pytest.raises(askfirst.AskfirstError, match="not a number"):
        feed(["id: x1", "event: call", 'data: {"id":"c","status":"denied"}', ""])
    with pytest.raises(askfirst.AskfirstError, match="not a call"):
        feed(["id: 2", "event: call", "data: not json", ""])


class Point(BaseModel):
    x: int
    y: int


def test_arguments_round_trip_through_json() -> None:
    def f(a: int, /, b: str, *rest: int, when: date, point: Point, **extra: Any) -> None: ...

    binder = _core.Binder(f)
    args, passthrough = binder.to_args(
        (1, "b", 2, 3), {"when": date(2026, 1, 2), "point": Point(x=1, y=2), "tag": "t"}
    )
    assert passthrough == []
    assert args == {
        "a": 1,
        "b": "b",
        "rest": [2, 3],
        "when": "2026-01-02",
        "point": {"x": 1, "y": 2},
        "tag": "t",
    }
    positional, keywords = binder.from_args({**args, "b": "edited", "tag": "u"})
    assert positional == [1, "edited", 2, 3]
    assert keywords == {"when": date(2026, 1, 2), "point": Point(x=1, y=2), "tag": "u"}


def test_a_methods_self_is_passed_through() -> None:
    class Tools:
        def restart(self, service: str, force: bool = False) -> str:
            return f"{service} {force}"

    tools = Tools()
    binder = _core.Binder(Tools.restart)
    args, passthrough = binder.to_args((tools, "api"), {})
    assert args == {"service": "api", "force": False} and passthrough == [tools]
    positional, keywords = binder.from_args({"service": "db", "force": True}, passthrough)
    assert Tools.restart(*positional, **keywords) == "db True"


def test_approved_arguments_that_do_not_fit_are_refused() -> None:
    def g(n: int, *, flag: bool = False) -> None: ...

    binder = _core.Binder(g)
    assert binder.from_args({"n": 1, "flag": False}) == ([], {"n": 1, "flag": False})
    with pytest.raises(askfirst.ArgsMismatch, match="lack 'n'"):
        binder.from_args({"flag": False})
    with pytest.raises(askfirst.ArgsMismatch, match="does not take: surprise"):
        binder.from_args({"n": 1, "flag": False, "surprise": True})
    with pytest.raises(askfirst.ArgsMismatch, match="does not fit its annotation int"):
        binder.from_args({"n": "many", "flag": False})
    with pytest.raises(TypeError, match="JSON-serializable"):
        binder.to_args((object(),), {})


def test_a_parameter_an_approver_removed_is_not_filled_by_its_default() -> None:
    def deploy(service: str, env: str = "staging", *extra: str, dry_run: bool = True) -> None: ...

    binder = _core.Binder(deploy)
    proposed, _ = binder.to_args(("api",), {})
    # A proposal always carries every parameter, defaults included.
    assert proposed == {"service": "api", "env": "staging", "extra": [], "dry_run": True}
    assert binder.from_args(proposed) == (["api", "staging"], {"dry_run": True})
    for removed in ("env", "dry_run", "extra"):
        edited = {k: v for k, v in proposed.items() if k != removed}
        with pytest.raises(askfirst.ArgsMismatch, match=f"lack '{removed}'"):
            binder.from_args(edited)


class Color(enum.Enum):
    RED = "red"


def test_approved_arguments_are_typed_strictly_from_their_json_form() -> None:
    def f(
        n: int,
        flag: bool,
        ratio: float,
        when: datetime,
        day: date,
        ident: uuid.UUID,
        price: Decimal,
        color: Color,
        pair: tuple[int, str],
        tags: set[str],
        point: Point,
        *more: int,
        limit: Optional[int] = None,
        **extra: int,
    ) -> None: ...

    binder = _core.Binder(f)
    ident = uuid.uuid4()
    given = (
        7,
        True,
        0.5,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        date(2026, 1, 2),
        ident,
        Decimal("1.50"),
        Color.RED,
        (1, "a"),
        {"x"},
        Point(x=1, y=2),
        8,
        9,
    )
    proposed, _ = binder.to_args(given, {"limit": None, "page": 3})
    positional, keywords = binder.from_args(proposed)
    assert tuple(positional) == given
    assert keywords == {"limit": None, "page": 3}
    # An int is a float's JSON form too; None is taken where the default is None.
    assert binder.from_args({**proposed, "ratio": 2, "limit": 5})[0][2] == 2.0

    lossy: list[tuple[str, Any]] = [
        ("n", "010"),
        ("n", True),
        ("n", 2.0),
        ("n", " 7 "),
        ("flag", "false"),
        ("flag", 1),
        ("ratio", "inf"),
        ("when", 1700000000),
        ("color", "RED"),
        ("more", ["1"]),
        ("page", "3"),
    ]
    for name, value in lossy:
        with pytest.raises(askfirst.ArgsMismatch, match="does not fit its annotation") as refused:
            binder.from_args({**proposed, name: value})
        assert isinstance(refused.value, TypeError) and refused.value.code == "args_mismatch"


def test_only_a_method_defined_in_a_class_passes_its_receiver_through() -> None:
    def set_role(cls: str, user: str) -> None: ...

    binder = _core.Binder(set_role)
    assert binder.receiver is None
    assert binder.to_args(("admin", "ann"), {}) == ({"cls": "admin", "user": "ann"}, [])
    edited = {"cls": "viewer", "user": "ann"}
    assert binder.from_args(edited) == ([], edited)

    class Users:
        @classmethod
        def make(cls, name: str) -> None: ...

        def handler(self) -> Any:
            def inner(self: str, n: int) -> None: ...

            return inner

    assert _core.Binder(Users.make.__func__).receiver == "cls"  # type: ignore[attr-defined]
    # Defined in a method, not in the class: its `self` is an argument.
    assert _core.Binder(Users().handler()).receiver is None


def test_a_kwargs_key_that_is_also_a_parameter_is_refused() -> None:
    def h(a: int, /, *rest: int, **kw: int) -> None: ...

    binder = _core.Binder(h)
    assert binder.to_args((1,), {"b": 2})[0] == {"a": 1, "rest": [], "b": 2}
    for clash in ({"a": 2}, {"rest": 3}):
        with pytest.raises(TypeError, match="both as a parameter and in \\*\\*kw"):
            binder.to_args((1,), clash)


def test_unresolvable_annotations_refuse_the_call_before_proposing() -> None:
    def later(item: "DefinedLater") -> None: ...  # type: ignore[name-defined]  # noqa: F821

    binder = _core.Binder(later)  # not yet defined: tried again at the call
    with pytest.raises(TypeError, match="cannot be resolved"):
        binder.to_args(({"n": 1},), {})
    with pytest.raises(TypeError, match="cannot be resolved"):
        binder.from_args({"item": {"n": 1}})

    globals()["DefinedLater"] = Point
    try:
        assert _core.Binder(later).from_args({"item": {"x": 1, "y": 2}}) == (
            [],
            {"item": Point(x=1, y=2)},
        )
    finally:
        del globals()["DefinedLater"]

    class Opaque:
        pass

    def opaque(thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match="pydantic cannot check"):
        _core.Binder(opaque)


def test_what_a_gate_cannot_run_once_is_refused_when_decorating() -> None:
    client = askfirst.Client("http://127.0.0.1:9", "af_test")

    def numbers(n: int) -> Any:
        yield n

    async def anumbers(n: int) -> Any:
        yield n

    for fn in (numbers, anumbers):
        with pytest.raises(TypeError, match="generator function"):
            client.require_approval()(fn)
    with pytest.raises(TypeError, match="above the askfirst gate"):
        client.require_approval()(staticmethod(lambda: None))  # type: ignore[arg-type]

    async def notify(channel: str) -> str:
        return channel

    @functools.wraps(notify)
    def wrapped(channel: str) -> Any:
        return notify(channel)

    # A wrapper that hides the coroutine function is still gated as one.
    assert inspect.iscoroutinefunction(client.require_approval()(wrapped))
    assert _core.gate_is_async(wrapped)
    client.close()


def test_the_api_key_stays_out_of_reprs_and_messages() -> None:
    config = _core.Config.build("http://127.0.0.1:9", "af_topsecret", 1.0, 0, None)
    assert "af_topsecret" not in repr(config)
    with askfirst.Client("http://127.0.0.1:9", "af_topsecret") as client:
        assert "af_topsecret" not in repr(client)
    for bad in ("af_topsecret\n", " af_topsecret", "af_top secret", "af_topsécret"):
        with pytest.raises(ValueError, match="API key holds") as refused:
            askfirst.Client("http://127.0.0.1:9", bad)
        assert "topsecret" not in str(refused.value)


def test_a_request_httpx_refuses_to_send_is_neither_echoed_nor_sent_again() -> None:
    tries: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        raise httpx.LocalProtocolError("Illegal header value b'Bearer af_topsecret\\n'")

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    with askfirst.Client("http://askfirst.test", "af_topsecret", retries=2, http_client=http) as c:
        with pytest.raises(askfirst.AskfirstError) as refused:
            c.get("call-1")
        assert len(tries) == 1
        err = refused.value
        assert err.code == "bad_request" and "af_topsecret" not in str(err)
        assert err.__cause__ is None and err.__suppress_context__
        with pytest.raises(ValueError, match="idempotency_key"):
            c.propose("read_x", {}, idempotency_key="key\nwith a newline")
    http.close()


def test_events_refuse_what_is_no_event_stream() -> None:
    answers = [
        httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"<html>login</html>"),
        httpx.Response(302, headers={"Location": "https://sso.example.com/login"}),
    ]
    for answer in answers:
        tries: list[httpx.Request] = []

        def handler(
            request: httpx.Request,
            answer: httpx.Response = answer,
            tries: list[httpx.Request] = tries,
        ) -> httpx.Response:
            tries.append(request)
            return answer

        http = httpx.Client(transport=httpx.MockTransport(handler))
        with askfirst.Client("http://askfirst.test", "af_k", http_client=http) as client:
            started = time.monotonic()
            with pytest.raises(askfirst.AskfirstError) as refused:
                next(iter(client.events()))
        assert time.monotonic() - started < 1 and len(tries) == 1
        assert refused.value.code == "bad_response" and "not an event stream" in str(refused.value)
    assert "sso.example.com" in str(refused.value)


def test_an_event_stream_that_ends_at_once_backs_off_then_gives_up() -> None:
    tries: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(time.monotonic())
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=b"")

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with (
        askfirst.Client("http://askfirst.test", "af_k", retries=2, http_client=http) as client,
        pytest.raises(askfirst.AskfirstError, match="3 times in a row"),
    ):
        next(iter(client.events()))
    assert len(tries) == 3
    assert tries[2] - tries[1] >= 0.25  # backing off, not 0.2 s apart forever


@pytest.mark.anyio
async def test_async_events_refuse_what_is_no_event_stream() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=b"{}")

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with askfirst.AsyncClient("http://askfirst.test", "af_k", http_client=http) as client:
        with pytest.raises(askfirst.AskfirstError, match="not an event stream"):
            async for _ in client.events():
                pass
    await http.aclose()


# --- Webhook secrets and headers -----------------------------------------------------------


def test_a_bytes_like_secret_is_one_secret() -> None:
    body = b'{"id":"c1"}'
    for kind in (bytes, bytearray, memoryview):
        secret = kind(b"whsec_abc")
        header = webhooks.sign(secret, body, 1000)
        assert webhooks.verify({"Askfirst-Signature": header}, body, secret, now=1000) == {
            "id": "c1"
        }
        assert webhooks.verify({"Askfirst-Signature": header}, body, [secret], now=1000)
        # Read as a list of byte values, each byte would be a zero-filled key: forgeable.
        forged = webhooks.sign(bytes(ord("w")), body, 1000)
        with pytest.raises(askfirst.WebhookError) as refused:
            webhooks.verify({"Askfirst-Signature": forged}, body, secret, now=1000)
        assert refused.value.code == "mismatch"
    with pytest.raises(TypeError, match="str or bytes"):
        webhooks.verify({"Askfirst-Signature": "t=1,v1=00"}, body, [b"ok", 119], now=1)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        webhooks.verify({"Askfirst-Signature": "t=1,v1=00"}, body, 119, now=1)  # type: ignore[arg-type]


def test_an_empty_secret_is_refused() -> None:
    body = b"{}"
    for secret in ("", b"", bytearray(), ["whsec_ok", ""], [b""], []):
        with pytest.raises(ValueError, match=r"(empty|no) webhook secret"):
            webhooks.verify(
                {"Askfirst-Signature": webhooks.sign(b"x", body, 1)},
                body,
                secret,  # type: ignore[arg-type]
                now=1,
            )
    with pytest.raises(ValueError, match="empty webhook secret"):
        webhooks.sign("", body, 1)


@pytest.mark.parametrize("t", ["9" * 400, "+1000", "1_000", " 1000x", "-5", "1e3"])
def test_a_timestamp_that_is_no_unix_time_is_malformed(t: str) -> None:
    with pytest.raises(askfirst.WebhookError) as refused:
        webhooks.verify({"Askfirst-Signature": f"t={t},v1=00"}, b"{}", "s", now=1000)
    assert refused.value.code == "malformed_header"


# --- Receipts -------------------------------------------------------------------------------


def test_integers_a_receipt_cannot_bind_are_refused() -> None:
    cases: list[tuple[Any, bool]] = [
        ({"n": 9_007_199_254_740_991}, False),
        ({"n": -9_007_199_254_740_991}, False),
        ({"n": 9_007_199_254_740_992}, True),
        ({"n": -9_007_199_254_740_993}, True),
        ({"n": 2**64 - 1}, True),
        ({"deep": [{"n": 18_446_744_073_709_550_000.0}]}, True),
        ({"n": 1e21}, True),
        ({"n": 0.1, "m": 2.0, "b": True, "s": "9007199254740993"}, False),
    ]
    for args, unsafe in cases:
        assert receipts.has_unsafe_integer(args) is unsafe, args
    # The collision the check prevents: two integers, one canonical form.
    a, b = {"n": 9_007_199_254_740_992.0}, {"n": 9_007_199_254_740_993}
    with pytest.raises(askfirst.ReceiptError) as refused:
        receipts.args_sha256(b)
    assert refused.value.code == "unsafe_integer"
    claims = {
        "iss": "https://askfirst.test",
        "sub": "c1",
        "aud": "deploy",
        "jti": "c1.1",
        "iat": 1000,
        "nbf": 1000,
        "exp": 2000,
        "agent": "bot",
        "tool": "deploy",
        "args_sha256": hashlib.sha256(rfc8785.dumps({"n": 1})).hexdigest(),
        "decision": {"by": "policy"},
        "policy_version": 1,
        "audit": {"id": 1, "hash": "h"},
    }
    for args in (a, b, {"n": 1e21}):
        with pytest.raises(askfirst.ReceiptError) as refused:
            receipts.check_claims(claims, tool="deploy", args=args, now=1500)
        assert refused.value.code == "unsafe_integer"
    assert receipts.check_claims(claims, tool="deploy", args={"n": 1.0}, now=1500).sub == "c1"


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_pauses() -> None:
    assert _core.retry_pause(None, 0) is not None
    assert _core.retry_pause(response(502), 0) is not None
    assert _core.retry_pause(response(503, **{"Retry-After": "2"}), 0) == 2.0
    assert _core.retry_pause(response(429, **{"Retry-After": "1"}), 3) == 1.0
    assert _core.retry_pause(response(429), 0) is None
    assert _core.retry_pause(response(503, **{"Retry-After": "3600"}), 0) is None
    assert _core.retry_pause(response(409), 0) is None
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    pause = _core.retry_pause(response(503, **{"Retry-After": when}), 0)
    assert pause is not None and 3 < pause <= 5


def test_api_errors_are_read_from_the_body() -> None:
    body = b'{"error":{"code":"approval_stale","message":"propose again","request_id":"r1"}}'
    err = _core.api_error(httpx.Response(409, content=body), "POST /api/v1/calls/x/execute")
    assert (err.status, err.code, err.request_id) == (409, "approval_stale", "r1")
    assert (
        str(err)
        == "askfirst answered 409 approval_stale: POST /api/v1/calls/x/execute: propose again"
    )
    other = _core.api_error(httpx.Response(502, content=b"<html>bad gateway</html>"), "GET /x")
    assert (other.status, other.code) == (502, "http_error") and "bad gateway" in other.message


def test_outcome_details_are_made_acceptable() -> None:
    assert _core.sanitize_detail("a\x00b\tc\nd\x85e") == "ab\tc\nde"
    assert len(_core.sanitize_detail("x" * 5000)) == 2000


def test_call_feedback_prefers_people_then_policy_then_status() -> None:
    call = askfirst.Call.model_validate({"id": "c", "status": "denied", "message": "out of scope"})
    assert call.feedback == "out of scope"
    call = askfirst.Call.model_validate(
        {"id": "c", "status": "denied", "decisions": [{"user": "ana", "decision": "deny"}]}
    )
    assert call.feedback == "ana denied the call without feedback"
    expired = askfirst.Call.model_validate(
        {"id": "c", "status": "expired", "deadline": "2026-01-01T09:00:00Z"}
    )
    assert expired.deadline == datetime(2026, 1, 1, 9, tzinfo=timezone.utc)
    assert expired.feedback.startswith("the call expired")
    with pytest.raises(askfirst.Expired):
        expired.raise_for_status()
