"""The asynchronous client, and async functions behind the sync client's decorator."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Optional

import pytest

import askfirst
from askfirst import Status

from support import Agent, Server, decide

pytestmark = pytest.mark.anyio


@pytest.fixture
async def aclient(server: Server, agent: Agent) -> AsyncIterator[askfirst.AsyncClient]:
    async with askfirst.AsyncClient(server.base_url, agent.key) as c:
        yield c


async def test_async_edit_then_approve_reaches_the_coroutine(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    got: list[tuple[str, str, Optional[str]]] = []

    @aclient.require_approval(tool="gated_deploy", risk=["production"])
    async def deploy(service: str, env: str) -> str:
        await asyncio.sleep(0)
        current = askfirst.current_call()
        got.append((service, env, current.id if current else None))
        return env

    edited = {"service": "api", "env": "staging"}

    def approve_later(call_id: str) -> None:
        time.sleep(0.5)
        server.approve(call_id, args=edited)

    person = decide(server, agent, "gated_deploy", approve_later)
    # Other tasks keep running while the gate waits: nothing blocks the loop.
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    try:
        assert await deploy("api", "production") == "staging"
    finally:
        task.cancel()
    call_id = person.join()
    assert got == [("api", "staging", call_id)]
    assert ticks >= 5
    view = await aclient.get(call_id)
    assert view.status is Status.EXECUTED and view.proposed_args["env"] == "production"


async def test_async_denial_raises_denied(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    @aclient.require_approval(tool="gated_post")
    async def post(text: str) -> None:
        raise AssertionError("must not run")

    person = decide(server, agent, "gated_post", lambda cid: server.deny(cid, "tone it down"))
    with pytest.raises(askfirst.Denied) as denied:
        await post("SHOUTING")
    assert denied.value.call_id == person.join()
    assert (denied.value.feedback, denied.value.retry, denied.value.reason_code) == (
        "tone it down",
        True,
        None,
    )


async def test_async_expiry(aclient: askfirst.AsyncClient) -> None:
    started = time.monotonic()
    with pytest.raises(askfirst.Expired):
        await aclient.gate("quick_reboot", {"host": "db1"})
    assert 1.5 < time.monotonic() - started < 8


async def test_async_do_not_retry(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    person = decide(
        server, agent, "gated_wipe", lambda cid: server.deny(cid, "no", do_not_retry=True)
    )
    with pytest.raises(askfirst.Denied) as first:
        await aclient.gate("gated_wipe", {"disk": "sda"})
    assert first.value.retry is False
    with pytest.raises(askfirst.DoNotRetry) as repeat:
        await aclient.gate("gated_wipe", {"disk": "sda"})
    assert repeat.value.repeat_of == person.join()


async def test_async_extension_followed(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    aclient.deadline_grace = 0.5
    started = time.monotonic()

    def extend_then_approve(call_id: str) -> None:
        server.extend(call_id, 1, "need a second look")
        time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
        server.approve(call_id)

    person = decide(server, agent, "extend_purge", extend_then_approve)
    call = await aclient.gate("extend_purge", {"bucket": "logs"})
    person.join()
    assert call.status is Status.APPROVED and call.extensions == 1
    assert time.monotonic() - started > 4


async def test_async_client_runs_a_plain_function_in_a_thread(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    threads: list[str] = []

    @aclient.require_approval(tool="gated_backup")
    def backup(path: str) -> str:
        threads.append(threading.current_thread().name)
        current = askfirst.current_call()
        assert current is not None and current.args == {"path": path}
        return path

    person = decide(server, agent, "gated_backup", server.approve)
    assert await backup("/srv") == "/srv"
    person.join()
    assert threads and threads[0] != threading.main_thread().name


async def test_sync_client_gates_an_async_function(server: Server, agent: Agent) -> None:
    with askfirst.Client(server.base_url, agent.key) as client:

        @client.require_approval(tool="gated_notify")
        async def notify(channel: str) -> str:
            return channel.upper()

        person = decide(server, agent, "gated_notify", server.approve)
        assert await notify("ops") == "OPS"
        assert client.get(person.join()).status is Status.EXECUTED


async def test_async_exception_is_reported_failed(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    @aclient.require_approval(tool="gated_sync_db")
    async def sync_db() -> None:
        raise ValueError("replica lagging")

    person = decide(server, agent, "gated_sync_db", server.approve)
    with pytest.raises(ValueError, match="replica lagging"):
        await sync_db()
    view = await aclient.get(person.join())
    assert view.status is Status.FAILED
    assert view.outcome_detail == "ValueError: replica lagging"


async def pending_call(server: Server, agent: Agent, tool: str) -> str:
    """The id of this agent's call of ``tool`` once it is pending."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(server.pending, agent, tool)
        if found:
            return str(found[0]["id"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no pending call of {tool} appeared")


async def test_cancelling_an_async_gate_withdraws_the_call(
    server: Server, agent: Agent, aclient: askfirst.AsyncClient
) -> None:
    task = asyncio.ensure_future(aclient.gate("gated_wipe", {"disk": "sdb"}))
    call_id = await pending_call(server, agent, "gated_wipe")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await aclient.get(call_id)).status is Status.CANCELLED

    ran: list[str] = []

    @aclient.require_approval(tool="gated_post")
    async def post(text: str) -> None:
        ran.append(text)

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(post("later"), 1.5)
    assert await asyncio.to_thread(server.pending, agent) == []
    assert ran == []


async def test_cancelling_a_sync_clients_gated_coroutine_withdraws_the_call(
    server: Server, agent: Agent
) -> None:
    ran: list[str] = []
    with askfirst.Client(server.base_url, agent.key) as client:

        @client.require_approval(tool="gated_purge")
        async def purge(bucket: str) -> None:
            ran.append(bucket)

        task = asyncio.ensure_future(purge("logs"))
        call_id = await pending_call(server, agent, "gated_purge")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Withdrawn while the task was cancelled; the worker thread never executes it.
        assert client.get(call_id).status is Status.CANCELLED
        await asyncio.sleep(0.5)
        assert client.get(call_id).status is Status.CANCELLED
    assert ran == []


async def test_cancelled_while_a_plain_function_runs_the_real_outcome_is_reported(
    aclient: askfirst.AsyncClient,
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[Optional[askfirst.Call]] = []

    @aclient.require_approval(tool="write_archive")  # allowed at once
    def archive(name: str) -> str:
        calls.append(askfirst.current_call())
        started.set()
        release.wait(10)
        return name

    task = asyncio.ensure_future(archive("q3"))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    await asyncio.sleep(0.3)
    assert not task.done(), "the cancellation waits for the thread"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    call = calls[0]
    assert call is not None
    view = await aclient.get(call.id)
    assert view.status is Status.EXECUTED and view.outcome is askfirst.Outcome.SUCCEEDED


async def test_aclose_from_another_task_stops_a_waiting_consumer(
    server: Server, agent: Agent
) -> None:
    async with askfirst.AsyncClient(server.base_url, agent.key) as client:
        stream = client.events()
        got: list[askfirst.CallEvent] = []

        async def consume() -> None:
            async for event in stream:
                got.append(event)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(1.0)  # connected, and waiting: no call leaves pending
        started = time.monotonic()
        await stream.aclose()
        await asyncio.wait_for(task, 3)
        assert time.monotonic() - started < 2 and got == []
