"""Retries and timeouts, through a proxy that drops, refuses or stalls requests on purpose."""

import time
from collections.abc import Iterator

import pytest

import askfirst
from askfirst import Status

from support import Agent, Proxy, Server, decide


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    p = Proxy(server.port)
    yield p
    p.close()


def test_a_dropped_proposal_is_sent_again_and_files_one_call(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    proxy.add("POST", "/api/v1/calls", "cut")
    with askfirst.Client(proxy.base_url, agent.key, retries=2) as client:
        call = client.propose("gated_pay", {"invoice": 17, "amount": 120})
    assert call.status is Status.PENDING
    sent = proxy.requests("POST", "/api/v1/calls")
    assert len(sent) == 2, "the first answer was cut, so the proposal went twice"
    keys = {s.headers["idempotency-key"] for s in sent}
    assert len(keys) == 1, keys
    assert [c["id"] for c in server.pending(agent)] == [call.id]


def test_without_retries_the_dropped_connection_surfaces(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    proxy.add("POST", "/api/v1/calls", "cut")
    with (
        askfirst.Client(proxy.base_url, agent.key, retries=0) as client,
        pytest.raises(askfirst.TransportError) as dropped,
    ):
        client.propose("gated_pay", {"invoice": 18})
    assert "POST /api/v1/calls" in str(dropped.value)
    # The server had filed the call: only its answer was lost.
    assert len(server.pending(agent, "gated_pay")) == 1


def test_the_decorator_rides_out_a_dropped_proposal(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    proxy.add("POST", "/api/v1/calls", "cut")
    runs: list[int] = []
    with askfirst.Client(proxy.base_url, agent.key) as client:

        @client.require_approval(tool="gated_refund")
        def refund(order: int) -> str:
            runs.append(order)
            return "refunded"

        person = decide(server, agent, "gated_refund", server.approve)
        assert refund(42) == "refunded"
        call_id = person.join()
        assert client.get(call_id).status is Status.EXECUTED
    assert runs == [42]
    assert len(proxy.requests("POST", "/api/v1/calls")) == 2
    assert server.pending(agent) == []


def test_execute_is_never_sent_twice(agent: Agent, proxy: Proxy) -> None:
    proxy.add("POST", "/api/v1/calls/", "cut")
    with askfirst.Client(proxy.base_url, agent.key, retries=2) as client:
        call = client.propose("write_row", {"row": 1})
        with pytest.raises(askfirst.TransportError):
            client.execute(call.id)
        assert len(proxy.requests("POST", f"/api/v1/calls/{call.id}/execute")) == 1
        # It did execute: the answer was lost, and sending it again would run it twice.
        assert client.get(call.id).status is Status.EXECUTED


def test_retry_after_is_honoured_for_reads_only(agent: Agent, proxy: Proxy) -> None:
    with askfirst.Client(proxy.base_url, agent.key, retries=2) as client:
        call = client.propose("gated_read_later", {})
        proxy.add("GET", f"/api/v1/calls/{call.id}", "busy")
        started = time.monotonic()
        assert client.get(call.id).status is Status.PENDING
        assert time.monotonic() - started >= 1.0
        assert len(proxy.requests("GET", f"/api/v1/calls/{call.id}")) == 2

        proxy.add("POST", f"/api/v1/calls/{call.id}/cancel", "busy")
        with pytest.raises(askfirst.AskfirstError) as busy:
            client.cancel(call.id)
        assert (busy.value.status, busy.value.code, busy.value.retry_after) == (503, "busy", 1.0)
        assert len(proxy.requests("POST", f"/api/v1/calls/{call.id}/cancel")) == 1
        assert client.cancel(call.id).status is Status.CANCELLED


def test_a_timeout_says_what_timed_out(agent: Agent, proxy: Proxy) -> None:
    with askfirst.Client(proxy.base_url, agent.key, timeout=0.5, retries=0) as client:
        call = client.propose("gated_slow", {})
        proxy.add("GET", f"/api/v1/calls/{call.id}", "stall")
        started = time.monotonic()
        with pytest.raises(askfirst.Timeout) as timed_out:
            client.get(call.id)
        assert time.monotonic() - started < 3
        message = str(timed_out.value)
        assert f"GET /api/v1/calls/{call.id}" in message
        assert "waiting for the answer" in message and "0.5 s" in message
        client.cancel(call.id)


def test_a_refused_connection_is_a_transport_error(agent: Agent) -> None:
    from support import free_port

    with askfirst.Client(f"http://127.0.0.1:{free_port()}", agent.key, retries=1) as client:
        started = time.monotonic()
        with pytest.raises(askfirst.TransportError) as refused:
            client.get("some-call")
        assert time.monotonic() - started < 5
    assert refused.value.code == "connection_error"


@pytest.mark.anyio
async def test_async_a_dropped_proposal_is_sent_again(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    proxy.add("POST", "/api/v1/calls", "cut")
    async with askfirst.AsyncClient(proxy.base_url, agent.key) as client:
        call = await client.propose("gated_pay", {"invoice": 19}, idempotency_key="invoice-19")
    sent = proxy.requests("POST", "/api/v1/calls")
    assert [s.headers["idempotency-key"] for s in sent] == ["invoice-19", "invoice-19"]
    assert [c["id"] for c in server.pending(agent)] == [call.id]


@pytest.mark.anyio
async def test_async_execute_is_never_sent_twice(agent: Agent, proxy: Proxy) -> None:
    proxy.add("POST", "/api/v1/calls/", "cut")
    async with askfirst.AsyncClient(proxy.base_url, agent.key) as client:
        call = await client.propose("write_row", {"row": 2})
        with pytest.raises(askfirst.TransportError):
            await client.execute(call.id)
        assert (await client.get(call.id)).status is Status.EXECUTED
    assert len(proxy.requests("POST", f"/api/v1/calls/{call.id}/execute")) == 1


def test_the_outcome_is_never_sent_twice(server: Server, agent: Agent, proxy: Proxy) -> None:
    proxy.add("POST", "/api/v1/calls/", "cut", path_suffix="/outcome")
    with askfirst.Client(proxy.base_url, agent.key, retries=2) as client:

        @client.require_approval(tool="write_ledger")
        def write(entry: int) -> str:
            return f"wrote {entry}"

        # The answer to the outcome report is lost; the function's result is not.
        assert write(3) == "wrote 3"
        sent = [s for s in proxy.seen if s.method == "POST" and s.path.endswith("/outcome")]
        assert len(sent) == 1, "an outcome report is sent once, like execute and cancel"
        view = client.get(sent[0].path.split("/")[4])
    assert view.status is Status.EXECUTED and view.outcome is askfirst.Outcome.SUCCEEDED
