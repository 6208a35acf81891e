"""The synchronous client against the real server: proposals, the decorator, and every way
a gated call can end."""

import time
from datetime import datetime, timezone
from typing import Optional

import pytest

import askfirst
from askfirst import Status

from support import Agent, Server, decide


def test_an_allowed_call_runs_at_once_and_is_reported(
    server: Server, client: askfirst.Client
) -> None:
    seen: list[tuple[str, Optional[askfirst.Call]]] = []

    @client.require_approval()
    def read_report(name: str) -> str:
        seen.append((name, askfirst.current_call()))
        return f"report {name}"

    assert read_report("q3") == "report q3"
    assert [name for name, _ in seen] == ["q3"]
    call = seen[0][1]
    assert call is not None and call.tool == "read_report" and call.args == {"name": "q3"}
    view = client.get(call.id)
    assert view.status is Status.EXECUTED
    assert view.outcome is askfirst.Outcome.SUCCEEDED
    assert view.session == client.session


def test_propose_answers_with_the_policy_verdict(client: askfirst.Client) -> None:
    allowed = client.propose("read_file", {"path": "/etc/motd"}, reason="show the motd")
    assert allowed.status is Status.ALLOWED and allowed.args == {"path": "/etc/motd"}
    pending = client.propose(
        "gated_deploy",
        {"service": "api"},
        risk=[askfirst.Risk.PRODUCTION],
        context={"plan_step": 1, "plan_total": 2},
        alternatives=["wait"],
    )
    assert pending.status is Status.PENDING and pending.rule == "gate-people"
    assert pending.deadline is not None and pending.deadline > datetime.now(timezone.utc)
    assert pending.risk == ["production"] and pending.approvals_required == 1
    view = client.get(pending.id)
    assert view.status is Status.PENDING and view.tool == "gated_deploy"
    assert view.context == {"plan_step": 1, "plan_total": 2}
    assert view.alternatives == ["wait"] and view.candidate is not None
    assert client.cancel(pending.id).status is Status.CANCELLED


def test_approval_runs_the_function_and_reports_it_executed(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    calls: list[tuple[str, str, int]] = []

    @client.require_approval(tool="gated_deploy", risk=["production"], reason="ship the fix")
    def deploy(service: str, env: str = "staging", *, replicas: int = 1) -> str:
        calls.append((service, env, replicas))
        return f"deployed {service} to {env}"

    person = decide(server, agent, "gated_deploy", server.approve)
    assert deploy("api", "production", replicas=2) == "deployed api to production"
    call_id = person.join()
    assert calls == [("api", "production", 2)]
    view = client.get(call_id)
    assert view.status is Status.EXECUTED and view.outcome is askfirst.Outcome.SUCCEEDED
    assert view.approved_by is not None and view.approved_by.people == ["ann"]
    assert view.reason == "ship the fix" and "production" in view.risk
    assert view.args == {"service": "api", "env": "production", "replicas": 2}


def test_an_approvers_edit_reaches_the_function(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    got: list[tuple[str, int, datetime, Optional[askfirst.Call]]] = []

    @client.require_approval(tool="gated_scale")
    def scale(service: str, replicas: int, at: datetime) -> int:
        got.append((service, replicas, at, askfirst.current_call()))
        return replicas

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    edited = {"service": "api", "replicas": 3, "at": "2027-05-06T07:08:09Z"}
    person = decide(server, agent, "gated_scale", lambda cid: server.approve(cid, args=edited))
    assert scale("api", 50, when) == 3
    call_id = person.join()
    assert len(got) == 1
    service, replicas, at, current = got[0]
    # The edit arrives typed by the function's annotations.
    assert (service, replicas) == ("api", 3)
    assert at == datetime(2027, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert current is not None and current.id == call_id and current.args["replicas"] == 3
    view = client.get(call_id)
    assert view.proposed_args == {"service": "api", "replicas": 50, "at": "2026-01-02T03:04:05Z"}
    assert view.args == edited
    assert view.decisions[0].edited_args and view.status is Status.EXECUTED


def test_an_exception_is_reported_as_a_failed_execution(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    @client.require_approval(tool="gated_migrate")
    def migrate(version: int) -> None:
        raise RuntimeError(f"migration {version} broke\x07 the schema")

    person = decide(server, agent, "gated_migrate", server.approve)
    with pytest.raises(RuntimeError, match="migration 7 broke"):
        migrate(7)
    view = client.get(person.join())
    assert view.status is Status.FAILED and view.outcome is askfirst.Outcome.FAILED
    assert view.outcome_detail == "RuntimeError: migration 7 broke the schema"


def test_a_denial_raises_denied_with_the_persons_words(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    ran: list[str] = []

    @client.require_approval(tool="gated_email")
    def email(to: str) -> None:
        ran.append(to)

    person = decide(
        server,
        agent,
        "gated_email",
        lambda cid: server.deny(cid, "not this customer", reason="wrong_target"),
    )
    with pytest.raises(askfirst.Denied) as denied:
        email("ceo@example.com")
    call_id = person.join()
    err = denied.value
    assert type(err) is askfirst.Denied
    assert (err.feedback, err.reason_code, err.retry, err.repeat_of) == (
        "not this customer",
        "wrong_target",
        True,
        None,
    )
    assert err.call_id == call_id and err.call.status is Status.DENIED and not err.by_policy
    assert ran == []
    assert client.get(call_id).status is Status.DENIED


def test_a_policy_denial_raises_at_once(client: askfirst.Client) -> None:
    @client.require_approval()
    def forbidden_export(what: str) -> None:
        raise AssertionError("must not run")

    started = time.monotonic()
    with pytest.raises(askfirst.Denied) as denied:
        forbidden_export("passwords")
    assert time.monotonic() - started < 2
    assert denied.value.by_policy and not denied.value.retry
    assert denied.value.feedback == "forbidden tools never run"


def test_nobody_deciding_raises_expired_at_the_deadline(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    @client.require_approval()
    def quick_restart(service: str) -> None:
        raise AssertionError("must not run")

    started = time.monotonic()
    with pytest.raises(askfirst.Expired) as expired:
        quick_restart("api")
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 8, elapsed
    assert expired.value.call.status is Status.EXPIRED
    assert "nobody decided" in expired.value.feedback
    assert server.pending(agent) == []


def test_do_not_retry_refuses_the_repeat_at_once(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    @client.require_approval(tool="gated_drop")
    def drop(table: str, cascade: bool = False) -> None:
        raise AssertionError("must not run")

    person = decide(
        server,
        agent,
        "gated_drop",
        lambda cid: server.deny(cid, "never drop users", do_not_retry=True),
    )
    with pytest.raises(askfirst.Denied) as first:
        drop("users")
    first_id = person.join()
    assert type(first.value) is askfirst.Denied
    assert first.value.retry is False and first.value.feedback == "never drop users"

    started = time.monotonic()
    with pytest.raises(askfirst.DoNotRetry) as repeat:
        drop("users")
    assert time.monotonic() - started < 2
    assert repeat.value.repeat_of == first_id and repeat.value.call_id != first_id
    assert repeat.value.feedback == "never drop users" and repeat.value.retry is False
    assert server.pending(agent) == []


def test_the_gate_follows_an_extension(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    # Without following the new deadline, the gate would give up 3.5 s after proposing.
    client.deadline_grace = 0.5
    started = time.monotonic()

    def extend_then_approve(call_id: str) -> None:
        server.extend(call_id, 1, "checking with the team")
        time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
        server.approve(call_id)

    person = decide(server, agent, "extend_rollout", extend_then_approve)
    call = client.gate("extend_rollout", {"percent": 10})
    person.join()
    assert time.monotonic() - started > 4
    assert call.status is Status.APPROVED and call.extensions == 1
    assert client.execute(call.id).args == {"percent": 10}


def test_the_callers_timeout_withdraws_the_call(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    started = time.monotonic()
    with pytest.raises(askfirst.Timeout) as timed_out:
        client.gate("gated_wait", {"n": 1}, timeout=1.5)
    assert 1.4 < time.monotonic() - started < 5
    assert "within the 1.5 s the caller allowed" in str(timed_out.value)
    call = timed_out.value.call
    assert call is not None and client.get(call.id).status is Status.CANCELLED
    assert isinstance(timed_out.value, TimeoutError)


def test_wait_returns_the_pending_call_when_its_timeout_passes(client: askfirst.Client) -> None:
    call = client.propose("gated_wait", {"n": 2})
    started = time.monotonic()
    view = client.wait(call.id, timeout=1.2)
    assert 1.1 < time.monotonic() - started < 4
    assert view.status is Status.PENDING
    client.cancel(call.id)
    assert client.wait(call.id).status is Status.CANCELLED


def test_execute_hands_out_the_arguments_exactly_once(client: askfirst.Client) -> None:
    call = client.propose("write_note", {"text": "hi"})
    assert client.execute(call.id).args == {"text": "hi"}
    with pytest.raises(askfirst.AskfirstError) as again:
        client.execute(call.id)
    assert (again.value.status, again.value.code) == (409, "already_executed")


def test_report_outcome_after_execute(client: askfirst.Client) -> None:
    call = client.propose("write_note", {"text": "x"})
    assert client.execute(call.id, report_outcome=True).status is Status.RUNNING
    done = client.report_outcome(call.id, "tool_error", "disk full")
    assert done.status is Status.EXECUTED and done.outcome is askfirst.Outcome.TOOL_ERROR
    assert done.outcome_detail == "disk full"


def test_api_errors_carry_code_and_status(server: Server, client: askfirst.Client) -> None:
    with pytest.raises(askfirst.AskfirstError) as missing:
        client.get("no-such-call")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with (
        askfirst.Client(server.base_url, "af_not_a_key") as stranger,
        pytest.raises(askfirst.AskfirstError) as unauthorized,
    ):
        stranger.propose("read_x", {})
    assert unauthorized.value.status == 401
    with pytest.raises(askfirst.AskfirstError) as bad:
        client.propose("gated_x", {"n": 1}, risk=["not-a-risk"])
    assert bad.value.status == 422


def test_preview_and_bypasses(client: askfirst.Client) -> None:
    answers = client.preview(["gated_deploy", "forbidden_x", "read_x"])
    assert [(a.tool, a.decision) for a in answers] == [
        ("gated_deploy", "gate"),
        ("forbidden_x", "deny"),
        ("read_x", "allow"),
    ]
    assert client.bypasses() == []


def test_settings_come_from_the_environment(
    server: Server, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKFIRST_URL", server.base_url + "/")
    monkeypatch.setenv("ASKFIRST_KEY", agent.key)
    with askfirst.Client() as c:
        assert c.base_url == server.base_url
        assert c.propose("read_env", {}).status is Status.ALLOWED
    monkeypatch.delenv("ASKFIRST_KEY")
    with pytest.raises(ValueError, match="ASKFIRST_KEY"):
        askfirst.Client()


def test_a_method_can_be_gated(client: askfirst.Client) -> None:
    class Journal:
        def __init__(self) -> None:
            self.lines: list[str] = []

        @client.require_approval(tool="write_journal")
        def write(self, line: str) -> int:
            self.lines.append(line)
            return len(self.lines)

    journal = Journal()
    assert journal.write("started") == 1
    assert journal.lines == ["started"]


def test_approved_arguments_that_do_not_fit_never_run(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    ran: list[tuple[str, int, bool]] = []

    @client.require_approval(tool="gated_resize")
    def resize(disk: str, gigabytes: int, force: bool = False) -> None:
        ran.append((disk, gigabytes, force))

    # "010" would have become 10 if converted leniently.
    lossy = {"disk": "sda", "gigabytes": "010", "force": False}
    person = decide(server, agent, "gated_resize", lambda cid: server.approve(cid, args=lossy))
    with pytest.raises(askfirst.ArgsMismatch) as mismatch:
        resize("sda", 10)
    call_id = person.join()
    assert isinstance(mismatch.value, TypeError)
    assert mismatch.value.call is not None and mismatch.value.call.id == call_id
    view = client.get(call_id)
    assert view.status is Status.FAILED and view.outcome is askfirst.Outcome.FAILED
    assert view.outcome_detail is not None
    assert "'gigabytes' does not fit its annotation int" in view.outcome_detail

    # An approver removed `force`: its default does not stand in for it.
    removed = {"disk": "sda", "gigabytes": 10}
    person = decide(server, agent, "gated_resize", lambda cid: server.approve(cid, args=removed))
    with pytest.raises(askfirst.ArgsMismatch, match="lack 'force'"):
        resize("sda", 10, force=True)
    assert client.get(person.join()).status is Status.FAILED
    assert ran == []


def test_a_plain_function_that_returns_a_coroutine_is_reported_failed(
    client: askfirst.Client,
) -> None:
    seen: list[Optional[askfirst.Call]] = []

    async def body() -> str:
        raise AssertionError("never awaited")

    def lazily() -> object:
        seen.append(askfirst.current_call())
        return body()

    gated = client.require_approval(tool="write_lazily")(lazily)
    with pytest.raises(TypeError, match="returned a coroutine"):
        gated()
    call = seen[0]
    assert call is not None
    view = client.get(call.id)
    assert view.status is Status.FAILED and "returned a coroutine" in (view.outcome_detail or "")


def test_a_parameter_named_cls_is_proposed(client: askfirst.Client) -> None:
    seen: list[Optional[askfirst.Call]] = []

    @client.require_approval(tool="write_role")
    def set_role(cls: str, user: str) -> str:
        seen.append(askfirst.current_call())
        return f"{user} is {cls}"

    assert set_role("admin", "ann") == "ann is admin"
    call = seen[0]
    assert call is not None and call.args == {"cls": "admin", "user": "ann"}
