"""The asynchronous client: the same API as :class:`askfirst.Client`, awaited."""

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union, overload

import httpx
from typing_extensions import ParamSpec

from . import _core
from ._core import Binder, Config, Req
from ._gate import (
    Classify,
    GateOptions,
    _current,
    approved_arguments,
    caller_gone,
    failed_outcome,
    settle,
)
from .client import EVENTS_READ_TIMEOUT, _receipt_jti
from .errors import AskfirstError, Stale
from .models import Bypass, Call, CallEvent, Executed, Outcome, PreviewAnswer, PreviewTool, Status

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("askfirst")


class AsyncClient:
    """The asynchronous client for one agent (one API key): the same methods as
    :class:`askfirst.Client`, as coroutines (the same settings, the same default session: a
    random one per client, to which proposals' idempotency keys are bound). Use as an async
    context manager, or call :meth:`aclose`."""

    deadline_grace: float = _core.DEADLINE_GRACE
    """How long past a call's deadline a gate keeps waiting before it withdraws the call."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        retries: int = 2,
        session: Optional[str] = None,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.config = Config.build(base_url, api_key, timeout, retries, session)
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient()

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def session(self) -> str:
        """The session proposals are filed under unless they name one."""
        return self.config.session

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"askfirst.AsyncClient({self.base_url!r}, session={self.session!r})"

    # -- transport

    async def _send(self, req: Req) -> httpx.Response:
        attempt = 0
        headers = {**self.config.headers(), **req.headers}
        while True:
            try:
                resp = await self._http.request(
                    req.method,
                    self.base_url + req.path,
                    json=req.json,
                    params=req.params,
                    headers=headers,
                    timeout=req.httpx_timeout(),
                )
            except httpx.TransportError as e:
                err = _core.transport_error(e, req, self.base_url)
                if isinstance(e, httpx.LocalProtocolError):
                    raise err from None  # never sent, never worth sending again
                pause = _core.retry_pause(None, attempt)
                if req.idempotent and attempt < self.config.retries and pause is not None:
                    log.info("%s; sending it again in %.2f s", err, pause)
                    await asyncio.sleep(pause)
                    attempt += 1
                    continue
                raise err from e
            if resp.status_code < 400:
                return resp
            pause = _core.retry_pause(resp, attempt)
            if req.idempotent and attempt < self.config.retries and pause is not None:
                log.info(
                    "%s answered %s; sending it again in %.2f s", req.what, resp.status_code, pause
                )
                await asyncio.sleep(pause)
                attempt += 1
                continue
            raise _core.api_error(resp, req.what)

    async def _get_call(self, call_id: str, wait_secs: int = 0) -> Call:
        path = _core.call_path(call_id)
        req = Req(
            "GET",
            path,
            _core.describe("GET", path),
            self.config.timeout + wait_secs,
            idempotent=True,
            params={"wait": wait_secs} if wait_secs > 0 else None,
        )
        return _core.parse_model(Call, await self._send(req), req.what)

    async def _post_call(self, call_id: str, action: str, body: Any = None) -> httpx.Response:
        path = _core.call_path(call_id, action)
        req = Req(
            "POST",
            path,
            _core.describe("POST", path),
            self.config.timeout,
            idempotent=False,
            json=body,
        )
        return await self._send(req)

    # -- the API

    async def propose(
        self,
        tool: str,
        args: Optional[Mapping[str, Any]] = None,
        *,
        session: Optional[str] = None,
        reason: Optional[str] = None,
        risk: Optional[Sequence[str]] = None,
        context: Optional[Mapping[str, Any]] = None,
        alternatives: Optional[Sequence[str]] = None,
        receipt: bool = False,
        idempotency_key: Optional[str] = None,
        checkpoint: Any = None,
        callback_url: Optional[str] = None,
        join_open: bool = False,
        run_if_allowed: bool = False,
    ) -> Call:
        """See :meth:`askfirst.Client.propose`."""
        req, body = _core.propose_request(
            self.config,
            tool,
            args if args is not None else {},
            session=session,
            reason=reason,
            risk=risk,
            context=context,
            alternatives=alternatives,
            receipt=receipt,
            idempotency_key=idempotency_key,
            checkpoint=checkpoint,
            callback_url=callback_url,
            join_open=join_open,
            run_if_allowed=run_if_allowed,
        )
        answer = _core.parse_model(Call, await self._send(req), req.what)
        return _core.proposed_call(answer, body)

    async def get(self, call_id: str) -> Call:
        """The call as it is now."""
        return await self._get_call(call_id)

    async def wait(self, call_id: str, timeout: Optional[float] = None) -> Call:
        """See :meth:`askfirst.Client.wait`."""
        end = None if timeout is None else _core.monotonic() + max(0.0, timeout)
        while True:
            left = _core.MAX_POLL_SECS if end is None else max(0.0, end - _core.monotonic())
            started = _core.monotonic()
            view = await self._get_call(call_id, int(min(left, _core.MAX_POLL_SECS)))
            now = _core.monotonic()
            if view.status is not Status.PENDING or (end is not None and now >= end):
                return view
            pause = max(0.0, _core.MIN_POLL_INTERVAL - (now - started))
            if end is not None:
                pause = min(pause, max(0.0, end - now))
            if pause > 0:
                await asyncio.sleep(pause)

    async def execute(
        self, call_id: str, *, report_outcome: bool = False, jti: Optional[str] = None
    ) -> Executed:
        """See :meth:`askfirst.Client.execute`."""
        body: Optional[dict[str, Any]] = None
        if report_outcome or jti is not None:
            body = {"report_outcome": report_outcome}
            if jti is not None:
                body["jti"] = jti
        resp = await self._post_call(call_id, "/execute", body)
        return _core.parse_model(Executed, resp, f"POST {_core.call_path(call_id, '/execute')}")

    async def report_outcome(
        self, call_id: str, result: Union[Outcome, str], detail: Optional[str] = None
    ) -> Call:
        """See :meth:`askfirst.Client.report_outcome`."""
        value = Outcome(result).value
        if value == Outcome.UNKNOWN.value:
            raise ValueError(f"{result!r} is not succeeded, tool_error or failed")
        body: dict[str, Any] = {"result": value}
        if detail is not None:
            body["detail"] = _core.sanitize_detail(detail)
        resp = await self._post_call(call_id, "/outcome", body)
        return _core.parse_model(Call, resp, f"POST {_core.call_path(call_id, '/outcome')}")

    async def cancel(self, call_id: str) -> Call:
        """Withdraws a pending call; ``409 not_pending`` if it was already decided."""
        resp = await self._post_call(call_id, "/cancel")
        return _core.parse_model(Call, resp, f"POST {_core.call_path(call_id, '/cancel')}")

    async def bypasses(self) -> list[Bypass]:
        """The active bypasses that cover this agent."""
        path = "/api/v1/bypasses"
        req = Req("GET", path, _core.describe("GET", path), self.config.timeout, idempotent=True)
        resp = await self._send(req)
        return _core.parse_model_list(Bypass, resp.json(), req.what)

    async def preview(self, tools: Sequence[Union[PreviewTool, str]]) -> list[PreviewAnswer]:
        """See :meth:`askfirst.Client.preview`."""
        items = [PreviewTool(tool=t) if isinstance(t, str) else t for t in tools]
        out: list[PreviewAnswer] = []
        path = "/api/v1/policy/preview"
        for start in range(0, len(items), 200):
            part = items[start : start + 200]
            req = Req(
                "POST",
                path,
                _core.describe("POST", path),
                self.config.timeout,
                idempotent=True,
                json={"tools": [t.model_dump(exclude_none=True) for t in part]},
            )
            data = (await self._send(req)).json()
            out.extend(_core.parse_model_list(PreviewAnswer, data.get("tools"), req.what))
        return out

    def events(
        self, last_event_id: Optional[int] = None, *, reconnect: bool = True
    ) -> "AsyncEventStream":
        """See :meth:`askfirst.Client.events`; iterate with ``async for``."""
        return AsyncEventStream(self, last_event_id, reconnect)

    # -- gates

    async def gate(
        self,
        tool: str,
        args: Optional[Mapping[str, Any]] = None,
        *,
        session: Optional[str] = None,
        reason: Optional[str] = None,
        risk: Optional[Sequence[str]] = None,
        context: Optional[Mapping[str, Any]] = None,
        alternatives: Optional[Sequence[str]] = None,
        receipt: bool = False,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Call:
        """See :meth:`askfirst.Client.gate`. Cancelling the awaiting task while people
        decide withdraws the call (carried through the cancellation)."""
        fut, cancelled = await settle(
            self.propose(
                tool,
                args,
                session=session,
                reason=reason,
                risk=risk,
                context=context,
                alternatives=alternatives,
                receipt=receipt,
                idempotency_key=idempotency_key or _core.new_idempotency_key(),
            )
        )
        if cancelled is not None:
            # Cancelled while proposing: the proposal was let through, so what it filed is
            # known, and withdrawn.
            if fut.exception() is None and fut.result().status is Status.PENDING:
                await settle(self._withdraw(fut.result().id))
            raise cancelled
        call = fut.result()
        if call.status is Status.PENDING:
            try:
                call = await self._await_decision(call, timeout)
            except asyncio.CancelledError:
                await settle(self._withdraw(call.id))
                raise
        return _core.runnable_or_raise(call)

    async def _await_decision(self, proposal: Call, timeout: Optional[float]) -> Call:
        started = _core.monotonic()
        deadline = proposal.deadline
        while True:
            budget = _core.gate_budget(deadline, self.deadline_grace)
            if timeout is not None:
                budget = min(budget, max(0.0, timeout - (_core.monotonic() - started)))
            view = await self.wait(proposal.id, budget)
            if view.status is not Status.PENDING:
                return view
            if view.deadline is not None and view.deadline != deadline:
                deadline = view.deadline
                continue
            break
        gave_up = timeout is not None and _core.monotonic() - started >= timeout
        try:
            withdrawn = await self.cancel(proposal.id)
        except AskfirstError as e:
            if e.status == 409:
                return await self.get(proposal.id)
            raise
        if gave_up and timeout is not None:
            raise _core.caller_timeout(withdrawn, timeout)
        raise _core.expired_after_wait(withdrawn.model_copy(update={"deadline": deadline}))

    async def _withdraw(self, call_id: str) -> None:
        """Withdraws a pending call nobody waits for any more; a call decided meanwhile is
        left as it is (approved, it never runs)."""
        try:
            await self.cancel(call_id)
        except AskfirstError as e:
            if e.status != 409:
                log.warning("askfirst: could not withdraw call %s: %s", call_id, e)

    async def _start(
        self, tool: str, args: dict[str, Any], opts: GateOptions
    ) -> tuple[Call, Executed]:
        """Gate, then ``execute`` with ``report_outcome``; an approval that went stale is
        proposed again, once. Cancelled meanwhile: the pending call is withdrawn, and one
        executed just then is reported failed (the function never runs)."""
        key = _core.new_idempotency_key()
        for attempt in range(2):
            call = await self.gate(
                tool,
                args,
                session=opts.session,
                reason=opts.reason,
                risk=opts.risk,
                context=opts.context,
                alternatives=opts.alternatives,
                receipt=opts.receipt,
                idempotency_key=key,
                timeout=opts.timeout,
            )
            jti = _receipt_jti(call) if opts.receipt else None
            fut, cancelled = await settle(self.execute(call.id, report_outcome=True, jti=jti))
            if cancelled is not None:
                if fut.exception() is None:
                    await self._finish_shielded(call.id, caller_gone(), failed_outcome)
                raise cancelled
            try:
                return call, fut.result()
            except AskfirstError as e:
                if e.status == 409 and e.code == "approval_stale" and attempt == 0:
                    key = f"{key}:again"
                    continue
                raise
        raise Stale(
            call.model_copy(update={"status": Status.STALE}),
            "the approval expired before the call could run, twice in a row; "
            "propose it again later",
        )

    async def _finish(
        self, call_id: str, error: Optional[BaseException], classify: Classify
    ) -> None:
        """Reports how running went, once (never sent again); a failure is logged."""
        try:
            if error is None:
                result, detail = Outcome.SUCCEEDED, None
            else:
                result, detail = classify(error), _core.describe_exception(error)
            await self.report_outcome(call_id, result, detail)
        except Exception as e:
            log.warning("askfirst: could not report the outcome of call %s: %s", call_id, e)

    async def _finish_shielded(
        self, call_id: str, error: Optional[BaseException], classify: Classify
    ) -> None:
        """:meth:`_finish`, carried through even when the task running the function was
        cancelled meanwhile (the cancellation is re-raised after, unless another error is
        on its way)."""
        _, cancelled = await settle(self._finish(call_id, error, classify))
        if cancelled is not None and error is None:
            raise cancelled

    async def run_gated(
        self,
        tool: str,
        args: Mapping[str, Any],
        fn: Callable[[dict[str, Any]], Awaitable[R]],
        *,
        session: Optional[str] = None,
        reason: Optional[str] = None,
        risk: Optional[Sequence[str]] = None,
        context: Optional[Mapping[str, Any]] = None,
        alternatives: Optional[Sequence[str]] = None,
        receipt: bool = False,
        timeout: Optional[float] = None,
        classify: Classify = failed_outcome,
    ) -> R:
        """See :meth:`askfirst.Client.run_gated`; ``fn`` is awaited."""
        opts = GateOptions(session, reason, risk, context, alternatives, receipt, timeout)
        call, executed = await self._start(tool, _core.to_json(dict(args), what="args"), opts)
        token = _current.set(call.model_copy(update={"args": executed.args}))
        try:
            result = await fn(dict(executed.args))
        except BaseException as e:
            await self._finish_shielded(call.id, e, classify)
            raise
        finally:
            _current.reset(token)
        await self._finish_shielded(call.id, None, classify)
        return result

    def require_approval(
        self,
        tool: Optional[str] = None,
        *,
        risk: Optional[Sequence[str]] = None,
        reason: Optional[str] = None,
        session: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
        alternatives: Optional[Sequence[str]] = None,
        receipt: bool = False,
        timeout: Optional[float] = None,
    ) -> "_AsyncDecorator":
        """See :meth:`askfirst.Client.require_approval`. The decorated function becomes a
        coroutine function: an ``async def`` is awaited, a plain function runs in a worker
        thread once approved, so the event loop never blocks.

        Cancelling the awaiting task while people decide withdraws the call: it never
        runs. Once a plain function runs in its thread it cannot be stopped: a cancellation
        then waits for it, reports how it really went (``executed`` or ``failed``), and is
        re-raised after."""
        if callable(tool):
            raise TypeError("use @client.require_approval() with parentheses")
        opts = GateOptions(session, reason, risk, context, alternatives, receipt, timeout)
        return _AsyncDecorator(self, tool, opts)


class _AsyncDecorator:
    def __init__(self, client: AsyncClient, tool: Optional[str], opts: GateOptions) -> None:
        self.client = client
        self.tool = tool
        self.opts = opts

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Coroutine[Any, Any, Any]]:
        client, opts = self.client, self.opts
        is_async = _core.gate_is_async(fn)
        tool = self.tool or getattr(fn, "__name__", None) or type(fn).__name__
        binder = Binder(fn)

        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            proposed, passthrough = binder.to_args(args, kwargs)
            call, executed = await client._start(tool, proposed, opts)
            approved = call.model_copy(update={"args": executed.args})
            token = _current.set(approved)
            reported = False
            try:
                positional, keywords = approved_arguments(binder, approved, passthrough)
                if is_async:
                    result = fn(*positional, **keywords)
                    if inspect.isawaitable(result):
                        result = await result
                else:
                    # The context goes along: current_call() works in the thread too.
                    ctx = contextvars.copy_context()
                    work = functools.partial(ctx.run, fn, *positional, **keywords)
                    ran, cancelled = await settle(
                        asyncio.get_running_loop().run_in_executor(None, work)
                    )
                    if cancelled is not None:
                        # The thread ran to its end regardless: report how it really went.
                        reported = True
                        await client._finish_shielded(call.id, ran.exception(), failed_outcome)
                        raise cancelled
                    result = ran.result()
                    if asyncio.iscoroutine(result):
                        result = await result
            except BaseException as e:
                if not reported:
                    await client._finish_shielded(call.id, e, failed_outcome)
                raise
            finally:
                _current.reset(token)
            await client._finish_shielded(call.id, None, failed_outcome)
            return result

        return run


class AsyncEventStream:
    """This agent's calls as they leave ``pending``, from :meth:`AsyncClient.events`.
    Iterate with ``async for``; ``last_event_id`` is the id of the last event handed out.
    :meth:`aclose` (or leaving an ``async with`` block) ends it, also from another task:
    a consumer waiting for the next event stops at once."""

    def __init__(self, client: AsyncClient, last_event_id: Optional[int], reconnect: bool) -> None:
        self.client = client
        self.last_event_id = last_event_id
        self.reconnect = reconnect
        self._closed = False
        self._closing: Optional[asyncio.Event] = None
        self._iterator: Optional[AsyncIterator[CallEvent]] = None

    async def __aenter__(self) -> "AsyncEventStream":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._closing is not None:
            self._closing.set()  # wakes a consumer waiting for the next line
        it = self._iterator
        if it is not None:
            close = getattr(it, "aclose", None)
            if close is not None:
                # Being iterated by another task: that task wakes and ends it instead.
                with contextlib.suppress(RuntimeError):
                    await close()

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        self._iterator = self._events()
        return self._iterator

    @staticmethod
    async def _read(lines: AsyncIterator[str], closing: "asyncio.Future[Any]") -> Optional[str]:
        """The stream's next line; ``None`` when it ended or the stream was closed."""
        read = asyncio.ensure_future(lines.__anext__())
        try:
            await asyncio.wait({read, closing}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            read.cancel()
            raise
        if not read.done():
            read.cancel()
            await asyncio.wait({read})
            return None
        try:
            return read.result()
        except StopAsyncIteration:
            return None

    async def _events(self) -> AsyncIterator[CallEvent]:
        client = self.client
        path = "/api/v1/events"
        req = Req("GET", path, _core.describe("GET", path), EVENTS_READ_TIMEOUT, idempotent=True)
        timeout = httpx.Timeout(client.config.timeout, read=EVENTS_READ_TIMEOUT, connect=10.0)
        if self._closing is None:
            self._closing = asyncio.Event()
        closing = asyncio.ensure_future(self._closing.wait())
        failures = 0
        try:
            while not self._closed:
                headers = {**client.config.headers(), "Accept": "text/event-stream"}
                if self.last_event_id is not None:
                    headers["Last-Event-ID"] = str(self.last_event_id)
                pause: Optional[float] = None
                try:
                    async with client._http.stream(
                        "GET", client.base_url + path, headers=headers, timeout=timeout
                    ) as resp:
                        if resp.status_code >= 400:
                            await resp.aread()
                            pause = _core.retry_pause(resp, failures)
                            if (
                                not self.reconnect
                                or pause is None
                                or failures >= client.config.retries
                            ):
                                raise _core.api_error(resp, req.what)
                        else:
                            refused = _core.not_an_event_stream(resp, req.what, client.base_url)
                            if refused is not None:
                                raise refused
                            parser = _core.SSEParser()
                            heard = False
                            lines = resp.aiter_lines()
                            while True:
                                line = await self._read(lines, closing)
                                if line is None:
                                    break
                                if not heard:
                                    heard, failures = True, 0
                                event = parser.feed(line)
                                if event is not None:
                                    self.last_event_id = event.id
                                    yield event
                                    if self._closed:
                                        return
                            if self._closed or not self.reconnect:
                                return
                            if heard:
                                pause = _core.EVENT_STREAM_END_PAUSE
                            elif failures >= client.config.retries:
                                raise _core.ended_at_once(req.what, failures + 1)
                            else:
                                pause = _core.retry_pause(None, failures)
                except httpx.TransportError as e:
                    if self._closed:
                        return
                    err = _core.transport_error(e, req, client.base_url)
                    if isinstance(e, httpx.LocalProtocolError):
                        raise err from None
                    if not self.reconnect or failures >= client.config.retries:
                        raise err from e
                    pause = _core.retry_pause(None, failures)
                    log.info("%s; reconnecting in %.2f s", err, pause)
                failures += 1
                await asyncio.wait({closing}, timeout=pause or 0.0)
        finally:
            closing.cancel()
