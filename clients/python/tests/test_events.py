"""The event stream: calls leaving ``pending``, resumed with ``Last-Event-ID``."""

import queue
import threading
from collections.abc import Iterator

import pytest

import askfirst
from askfirst import Status

from support import Agent, Proxy, Server


class Consumer:
    """Reads a sync event stream in a thread."""

    def __init__(self, stream: askfirst.EventStream) -> None:
        self.stream = stream
        self.events: queue.Queue[askfirst.CallEvent] = queue.Queue()
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.stream:
                self.events.put(event)
        except BaseException as e:
            self.error.append(e)

    def next(self) -> askfirst.CallEvent:
        try:
            return self.events.get(timeout=15)
        except queue.Empty:
            raise AssertionError(f"no event came; errors: {self.error}") from None

    def close(self) -> None:
        # From another thread the reader stops at the next keep-alive (within 5 s); it is
        # a daemon, so the test need not wait for it.
        self.stream.close()


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    p = Proxy(server.port)
    yield p
    p.close()


def test_the_stream_resumes_after_the_last_event_seen(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    first = client.propose("gated_a", {"n": 1}, checkpoint={"step": 1})
    second = client.propose("gated_b", {"n": 2}, checkpoint={"step": 2})

    # A fresh agent has no events yet: from 0, whatever comes is live or replayed, never lost.
    live = Consumer(client.events(last_event_id=0))
    server.deny(first.id, "not now")
    event = live.next()
    live.close()
    assert event.call.id == first.id and event.call.status is Status.DENIED
    assert event.call.checkpoint == {"step": 1}
    assert live.stream.last_event_id == event.id

    # Decided while nobody listened: the next stream replays it, and only it.
    server.approve(second.id)
    with client.events(last_event_id=event.id) as stream:
        resumed = next(iter(stream))
    assert resumed.call.id == second.id and resumed.call.status is Status.APPROVED
    assert resumed.id > event.id and resumed.call.checkpoint == {"step": 2}

    # From the start: both, in order.
    with client.events(last_event_id=0) as stream:
        it = iter(stream)
        replayed = [next(it).call.id, next(it).call.id]
    assert replayed == [first.id, second.id]


def test_the_stream_reconnects_by_itself_with_last_event_id(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    with askfirst.Client(proxy.base_url, agent.key) as client:
        first = client.propose("gated_a", {"n": 1})
        second = client.propose("gated_b", {"n": 2})
        proxy.add("GET", "/api/v1/events", "cut_after_event")
        live = Consumer(client.events(last_event_id=0))
        server.approve(first.id)
        got_first = live.next()
        # The proxy dropped the connection after that event; decide the next meanwhile.
        server.deny(second.id, "no")
        got_second = live.next()
        live.close()
    assert (got_first.call.id, got_second.call.id) == (first.id, second.id)
    assert live.events.empty(), "no event twice"
    opened = proxy.requests("GET", "/api/v1/events")
    assert len(opened) >= 2
    assert opened[0].headers["last-event-id"] == "0"
    assert opened[1].headers["last-event-id"] == str(got_first.id)


def test_without_reconnect_a_dropped_stream_raises(
    server: Server, agent: Agent, proxy: Proxy
) -> None:
    with askfirst.Client(proxy.base_url, agent.key) as client:
        call = client.propose("gated_a", {"n": 3})
        proxy.add("GET", "/api/v1/events", "cut_after_event")
        stream = client.events(last_event_id=0, reconnect=False)
        it = iter(stream)
        server.approve(call.id)
        assert next(it).call.id == call.id
        with pytest.raises(askfirst.TransportError):
            next(it)


@pytest.mark.anyio
async def test_async_stream_resumes(server: Server, agent: Agent) -> None:
    async with askfirst.AsyncClient(server.base_url, agent.key) as client:
        first = await client.propose("gated_a", {"n": 1})
        second = await client.propose("gated_b", {"n": 2})
        server.approve(first.id)
        async with client.events(last_event_id=0) as stream:
            async for event in stream:
                assert event.call.id == first.id
                break
        last = stream.last_event_id
        assert last is not None
        server.deny(second.id, "later")
        async with client.events(last_event_id=last) as stream:
            async for event in stream:
                assert event.call.id == second.id and event.call.status is Status.DENIED
                assert event.call.denial is not None
                assert event.call.denial.feedback == "later"
                break
