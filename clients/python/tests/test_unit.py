"""Pieces that need no server: the event-stream parser, argument binding, retry pauses."""

import email.utils
import time
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import askfirst
from askfirst import _core


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
    assert binder.from_args({"n": 1}) == ([], {"n": 1})
    with pytest.raises(TypeError, match="lack 'n'"):
        binder.from_args({})
    with pytest.raises(TypeError, match="does not take: surprise"):
        binder.from_args({"n": 1, "surprise": True})
    with pytest.raises(TypeError, match="does not fit its type"):
        binder.from_args({"n": "many"})
    with pytest.raises(TypeError, match="JSON-serializable"):
        binder.to_args((object(),), {})


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
