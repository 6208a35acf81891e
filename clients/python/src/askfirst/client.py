"""The synchronous client."""

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
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
    refuse_coroutine,
    retrieve,
    settle,
)
from .errors import AskfirstError, Stale
from .models import (
    Bypass,
    Call,
    CallEvent,
    Executed,
    Outcome,
    PreviewAnswer,
    PreviewTool,
    Status,
)
from .receipts import unverified_claims

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("askfirst")

EVENTS_READ_TIMEOUT = 30.0
"""Seconds without a byte (the server sends a keep-alive every 5 s) before the event
stream counts as dropped and is opened again."""
GATE_THREADS = 64
"""How many ``async def`` functions gated by one sync :class:`Client` wait for people at
once (each in a worker thread of the client's own); more wait their turn to propose."""


class Client:
    """A client for one agent (one API key) of an askfirst server.

    ``base_url`` defaults to ``ASKFIRST_URL`` (else ``http://127.0.0.1:3000``), ``api_key``
    to ``ASKFIRST_KEY``. ``timeout`` is how long one request may take (a long-poll gets its
    wait on top); ``retries`` how many times a request that is safe to repeat — reads, and
    proposals (they always carry an ``Idempotency-Key``) — is sent again after a connection
    error, a ``502``/``503``/``504`` or a ``Retry-After``. ``session`` names the agent's run
    (default ``ASKFIRST_SESSION``, else a random one per client). An ``Idempotency-Key`` is
    bound to the session it was first used with: a process that replays a key — a resumed
    LangGraph thread, a restarted worker — must propose under the same session (pass
    ``session=``), or the server answers ``409 idempotency_key_reused``. Use as a context
    manager, or call :meth:`close`.
    """

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
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self.config = Config.build(base_url, api_key, timeout, retries, session)
        self._own_http = http_client is None
        self._http = http_client or httpx.Client()
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def session(self) -> str:
        """The session proposals are filed under unless they name one."""
        return self.config.session

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._own_http:
            self._http.close()

    def _gate_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The worker threads gated ``async def`` functions wait for people in (not the
        event loop's default executor, which they would tie up for minutes)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=GATE_THREADS, thread_name_prefix="askfirst-gate"
                )
            return self._pool

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"askfirst.Client({self.base_url!r}, session={self.session!r})"

    # -- transport

    def _send(self, req: Req) -> httpx.Response:
        """Sends ``req``; a request that is safe to repeat is sent again, with backoff,
        after a failure in transit or an answer that says to try again."""
        attempt = 0
        headers = {**self.config.headers(), **req.headers}
        while True:
            try:
                resp = self._http.request(
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
                    time.sleep(pause)
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
                time.sleep(pause)
                attempt += 1
                continue
            raise _core.api_error(resp, req.what)

    def _get_call(self, call_id: str, wait_secs: int = 0) -> Call:
        path = _core.call_path(call_id)
        req = Req(
            "GET",
            path,
            _core.describe("GET", path),
            self.config.timeout + wait_secs,
            idempotent=True,
            params={"wait": wait_secs} if wait_secs > 0 else None,
        )
        return _core.parse_model(Call, self._send(req), req.what)

    def _post_call(self, call_id: str, action: str, body: Any = None) -> httpx.Response:
        path = _core.call_path(call_id, action)
        req = Req(
            "POST",
            path,
            _core.describe("POST", path),
            self.config.timeout,
            idempotent=False,
            json=body,
        )
        return self._send(req)

    # -- the API

    def propose(
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
        """Proposes a call of ``tool`` with ``args``; policy answers ``allowed``,
        ``denied`` or ``pending`` (see ``Call.status``).

        Every proposal carries an ``Idempotency-Key`` (``idempotency_key``, else a fresh
        uuid4), so one lost in transit is sent again and the server answers the repeat
        with its first answer: a retry never files a second call. ``receipt=True`` asks
        for a signed receipt should policy allow the call (approved calls always get
        one). ``checkpoint`` and ``callback_url`` are for async gates: the checkpoint comes
        back with the call, and the URL gets a signed webhook when people decide.
        With ``join_open=True`` a proposal policy would gate answers with this agent's
        earlier call of the same tool with the same arguments while that one is pending or
        approved and not yet executed, instead of filing a second; with
        ``run_if_allowed=True`` a call policy allows is recorded ``running`` at once (no
        :meth:`execute`; report it with :meth:`report_outcome`).

        The key is bound to the session, the tool and the arguments it was first used
        with: another call with it is ``409 idempotency_key_reused``. A key that must find
        its call again from another process (a resumed graph) needs the same ``session``
        there too — the default is a random one per client.
        """
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
        answer = _core.parse_model(Call, self._send(req), req.what)
        return _core.proposed_call(answer, body)

    def get(self, call_id: str) -> Call:
        """The call as it is now."""
        return self._get_call(call_id)

    def wait(self, call_id: str, timeout: Optional[float] = None) -> Call:
        """Waits until the call leaves ``pending`` (long-polls of at most 60 s each,
        following extensions of its deadline) or ``timeout`` seconds pass; returns the call
        as it then is — still ``pending`` if nobody decided in time. ``None``: wait until it
        leaves ``pending`` (at its deadline at the latest)."""
        end = None if timeout is None else _core.monotonic() + max(0.0, timeout)
        while True:
            left = _core.MAX_POLL_SECS if end is None else max(0.0, end - _core.monotonic())
            started = _core.monotonic()
            view = self._get_call(call_id, int(min(left, _core.MAX_POLL_SECS)))
            now = _core.monotonic()
            if view.status is not Status.PENDING or (end is not None and now >= end):
                return view
            pause = max(0.0, _core.MIN_POLL_INTERVAL - (now - started))
            if end is not None:
                pause = min(pause, max(0.0, end - now))
            if pause > 0:
                time.sleep(pause)

    def execute(
        self, call_id: str, *, report_outcome: bool = False, jti: Optional[str] = None
    ) -> Executed:
        """Reports that the agent is executing the call; returns the arguments to run
        with (possibly edited by an approver), exactly once. Never sent twice: a second
        ``execute`` is ``409 already_executed``. With ``report_outcome=True`` the call is
        ``running`` until :meth:`report_outcome`; ``jti`` records the receipt handed to the
        tool server as used. Errors (``409``): ``approval_stale`` (propose again),
        ``already_executed``, ``not_approved``, ``approval_mismatch``, ``receipt_mismatch``.
        """
        body: Optional[dict[str, Any]] = None
        if report_outcome or jti is not None:
            body = {"report_outcome": report_outcome}
            if jti is not None:
                body["jti"] = jti
        resp = self._post_call(call_id, "/execute", body)
        return _core.parse_model(Executed, resp, f"POST {_core.call_path(call_id, '/execute')}")

    def report_outcome(
        self, call_id: str, result: Union[Outcome, str], detail: Optional[str] = None
    ) -> Call:
        """Reports how running a ``running`` call went: ``succeeded`` or ``tool_error``
        (the tool returned a result) make it ``executed``; ``failed`` (no result) makes it
        ``failed``. Once: ``409 not_running`` otherwise."""
        value = Outcome(result).value
        if value == Outcome.UNKNOWN.value:
            raise ValueError(f"{result!r} is not succeeded, tool_error or failed")
        body: dict[str, Any] = {"result": value}
        if detail is not None:
            body["detail"] = _core.sanitize_detail(detail)
        resp = self._post_call(call_id, "/outcome", body)
        return _core.parse_model(Call, resp, f"POST {_core.call_path(call_id, '/outcome')}")

    def cancel(self, call_id: str) -> Call:
        """Withdraws a pending call; ``409 not_pending`` if it was already decided."""
        resp = self._post_call(call_id, "/cancel")
        return _core.parse_model(Call, resp, f"POST {_core.call_path(call_id, '/cancel')}")

    def bypasses(self) -> list[Bypass]:
        """The active bypasses that cover this agent."""
        path = "/api/v1/bypasses"
        req = Req("GET", path, _core.describe("GET", path), self.config.timeout, idempotent=True)
        resp = self._send(req)
        return _core.parse_model_list(Bypass, resp.json(), req.what)

    def preview(self, tools: Sequence[Union[PreviewTool, str]]) -> list[PreviewAnswer]:
        """What policy would do with calls of each tool (``allow``, ``gate``, ``deny`` or
        ``depends``), in the order asked; records nothing."""
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
                idempotent=True,  # records nothing
                json={"tools": [t.model_dump(exclude_none=True) for t in part]},
            )
            data = self._send(req).json()
            out.extend(_core.parse_model_list(PreviewAnswer, data.get("tools"), req.what))
        return out

    def events(
        self, last_event_id: Optional[int] = None, *, reconnect: bool = True
    ) -> "EventStream":
        """This agent's calls as they leave ``pending`` (``GET /api/v1/events``). With
        ``last_event_id``, first replays every event after it (``0``: all of them). The
        stream reconnects by itself when the connection drops, resuming with
        ``Last-Event-ID`` from the last event seen (``reconnect=False``: it ends instead).
        Use it as an iterator, ideally in a ``with`` block; ``stream.last_event_id`` is
        what to persist to resume in a later run."""
        return EventStream(self, last_event_id, reconnect)

    # -- gates

    def gate(
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
        """Proposes the call and waits for people; returns it once it may run
        (``allowed`` or ``approved``: its ``args`` are what to run, an approver's edit
        included). Raises :class:`~askfirst.Denied` (:class:`~askfirst.DoNotRetry` for a
        repeat refused at once), :class:`~askfirst.Expired` when nobody decided by the
        deadline (extensions followed), :class:`~askfirst.Cancelled`, or
        :class:`~askfirst.Timeout` when ``timeout`` seconds pass first (the call is then
        withdrawn). Run it with :meth:`execute`."""
        return self._gate(
            tool,
            args,
            session=session,
            reason=reason,
            risk=risk,
            context=context,
            alternatives=alternatives,
            receipt=receipt,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    def _gate(
        self,
        tool: str,
        args: Optional[Mapping[str, Any]],
        *,
        session: Optional[str],
        reason: Optional[str],
        risk: Optional[Sequence[str]],
        context: Optional[Mapping[str, Any]],
        alternatives: Optional[Sequence[str]],
        receipt: bool,
        idempotency_key: Optional[str],
        timeout: Optional[float],
        abandon: "Optional[_Abandon]" = None,
    ) -> Call:
        """:meth:`gate`; with ``abandon``, the call is withdrawn as soon as the caller is
        gone."""
        if abandon is not None and abandon.is_set():
            raise _abandoned_error()
        call = self.propose(
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
        if abandon is not None:
            # Set before looking at the flag: the side that sets the flag reads the id
            # after, so one of the two sees the other and withdraws the call.
            abandon.call_id = call.id
            if abandon.is_set():
                if call.status is Status.PENDING:
                    self._withdraw(call.id)
                raise _abandoned_error()
        if call.status is Status.PENDING:
            call = self._await_decision(call, timeout, abandon)
        return _core.runnable_or_raise(call)

    def _await_decision(
        self, proposal: Call, timeout: Optional[float], abandon: "Optional[_Abandon]" = None
    ) -> Call:
        started = _core.monotonic()
        deadline = proposal.deadline
        while abandon is None or not abandon.is_set():
            budget = _core.gate_budget(deadline, self.deadline_grace)
            if timeout is not None:
                budget = min(budget, max(0.0, timeout - (_core.monotonic() - started)))
            view = self.wait(proposal.id, budget)
            if view.status is not Status.PENDING:
                return view
            if view.deadline is not None and view.deadline != deadline:
                deadline = view.deadline  # extended, or escalated: wait for the new one
                continue
            break
        gave_up = timeout is not None and _core.monotonic() - started >= timeout
        try:
            withdrawn = self.cancel(proposal.id)
        except AskfirstError as e:
            if e.status == 409:  # decided meanwhile: use the decision
                return self.get(proposal.id)
            raise
        if abandon is not None and abandon.is_set():
            raise _abandoned_error()
        if gave_up and timeout is not None:
            raise _core.caller_timeout(withdrawn, timeout)
        raise _core.expired_after_wait(withdrawn.model_copy(update={"deadline": deadline}))

    def _withdraw(self, call_id: str) -> None:
        """Withdraws a pending call nobody waits for any more; a call decided meanwhile is
        left as it is (approved, it never runs)."""
        try:
            self.cancel(call_id)
        except AskfirstError as e:
            if e.status != 409:
                log.warning("askfirst: could not withdraw call %s: %s", call_id, e)

    def _start(
        self,
        tool: str,
        args: dict[str, Any],
        opts: GateOptions,
        abandon: "Optional[_Abandon]" = None,
    ) -> tuple[Call, Executed]:
        """Gate, then ``execute`` with ``report_outcome``; an approval that went stale
        before it could run is proposed again, once. With ``abandon`` (a gated coroutine's
        worker thread): nothing is executed once the caller is gone, and an execution
        the caller can no longer take over is reported failed."""
        key = _core.new_idempotency_key()
        for attempt in range(2):
            call = self._gate(
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
                abandon=abandon,
            )
            if abandon is not None and abandon.is_set():
                raise _abandoned_error()  # approved, and left unexecuted: it never runs
            jti = _receipt_jti(call) if opts.receipt else None
            try:
                executed = self.execute(call.id, report_outcome=True, jti=jti)
            except AskfirstError as e:
                if e.status == 409 and e.code == "approval_stale" and attempt == 0:
                    key = f"{key}:again"
                    continue
                raise
            if abandon is not None and not abandon.hand_over():
                self._finish(call.id, caller_gone(), failed_outcome)
                raise _abandoned_error()
            return call, executed
        raise Stale(
            call.model_copy(update={"status": Status.STALE}),
            "the approval expired before the call could run, twice in a row; "
            "propose it again later",
        )

    async def _start_async(
        self, tool: str, args: dict[str, Any], opts: GateOptions
    ) -> tuple[Call, Executed]:
        """:meth:`_start` in a worker thread, for a gated coroutine. When its task is
        cancelled, the pending call is withdrawn (carried through the cancellation) and
        never executed; if it was executed just then, it is reported failed."""
        abandon = _Abandon()
        loop = asyncio.get_running_loop()
        started = self._gate_pool().submit(self._start, tool, args, opts, abandon)
        fut = asyncio.wrap_future(started, loop=loop)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            fut.add_done_callback(retrieve)
            handed_over = abandon.abandon()
            if not handed_over:
                started.cancel()  # still queued: it never starts
            await settle(
                loop.run_in_executor(None, self._abandon_start, abandon, started, handed_over)
            )
            raise

    def _abandon_start(
        self,
        abandon: "_Abandon",
        started: "concurrent.futures.Future[tuple[Call, Executed]]",
        handed_over: bool,
    ) -> None:
        if handed_over:
            # Executed just as the caller went: the function will never run.
            try:
                call, _ = started.result(timeout=self.config.timeout)
            except BaseException:
                return
            self._finish(call.id, caller_gone(), failed_outcome)
        elif abandon.call_id is not None:
            self._withdraw(abandon.call_id)

    def _finish(self, call_id: str, error: Optional[BaseException], classify: Classify) -> None:
        """Reports how running went, once: like every ``outcome``, never sent again (a
        lost answer is logged). A failure to report is logged, never raised (the function
        ran: raising would invite running it again)."""
        try:
            if error is None:
                result, detail = Outcome.SUCCEEDED, None
            else:
                result, detail = classify(error), _core.describe_exception(error)
            self.report_outcome(call_id, result, detail)
        except Exception as e:
            log.warning("askfirst: could not report the outcome of call %s: %s", call_id, e)

    async def _finish_async(
        self, call_id: str, error: Optional[BaseException], classify: Classify
    ) -> None:
        """:meth:`_finish` from a coroutine, carried through even when its task is
        cancelled meanwhile (the cancellation is re-raised after, unless another error is
        on its way)."""
        _, cancelled = await settle(asyncio.to_thread(self._finish, call_id, error, classify))
        if cancelled is not None and error is None:
            raise cancelled

    def run_gated(
        self,
        tool: str,
        args: Mapping[str, Any],
        fn: Callable[[dict[str, Any]], R],
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
        """The synchronous gate around any callable: proposes ``tool`` with ``args``, waits
        for people, runs ``fn`` with the approved arguments (a dict; an approver's edit
        included), and reports the outcome (an exception as a failed execution, re-raised).
        Raises like :meth:`gate` when the call may not run; ``fn`` then never runs."""
        opts = GateOptions(session, reason, risk, context, alternatives, receipt, timeout)
        call, executed = self._start(tool, _core.to_json(dict(args), what="args"), opts)
        token = _current.set(call.model_copy(update={"args": executed.args}))
        try:
            result = fn(dict(executed.args))
        except BaseException as e:
            self._finish(call.id, e, classify)
            raise
        finally:
            _current.reset(token)
        self._finish(call.id, None, classify)
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
    ) -> "_SyncDecorator":
        """Gates a function (sync or async): each invocation proposes ``tool`` (default:
        the function's name) with the function's bound arguments as JSON, waits for
        people, and on approval runs the function **with the approved arguments** (an
        approver's edit reaches it, typed again by its annotations), then reports it
        executed — or failed, when it raises. One idempotency key per invocation, so a
        retried request never files a second call.

        Raises :class:`~askfirst.Denied`, :class:`~askfirst.DoNotRetry`,
        :class:`~askfirst.Expired` (or :class:`~askfirst.Timeout` past ``timeout``) when
        the call may not run; the function then never runs. Inside it,
        :func:`askfirst.current_call` is the approved call (its ``receipt`` included;
        ``receipt=True`` asks for one on allowed calls too and records its use).

        The approved arguments must fit the function: every parameter present (one an
        approver removed is not filled in by its default), none it does not take, and each
        value valid for its annotation in pydantic's strict JSON mode (an ISO date parses
        to a ``date``, but ``"010"`` is no ``int``). Otherwise the function does not run,
        the call is reported failed, and :class:`~askfirst.ArgsMismatch` (a ``TypeError``)
        is raised. Annotations that cannot be resolved (at the first call at the latest)
        or that pydantic cannot check are a ``TypeError`` before anything is proposed —
        never silently unchecked. A method's ``self``/``cls`` (the first parameter, so
        named, of a function defined in a class body) is passed through, not proposed; a
        ``**kwargs`` key that is also a parameter's name is refused, and so are generator
        functions.

        An ``async def`` is awaited on the event loop, while the waiting runs in a worker
        thread of this client's own (at most ``GATE_THREADS``, 64, at once); with
        :class:`~askfirst.AsyncClient` nothing blocks. Cancelling the awaiting task while
        people decide withdraws the call; it never runs.
        """
        if callable(tool):
            raise TypeError("use @client.require_approval() with parentheses")
        opts = GateOptions(session, reason, risk, context, alternatives, receipt, timeout)
        return _SyncDecorator(self, tool, opts)


class _Abandon:
    """Between a gated coroutine's task and the worker thread that gates its call: the
    task sets it when it is cancelled, so the thread withdraws the call and never executes
    it; an execution the thread handed over before that is reported failed by the task's
    side instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._handed_over = False
        self.call_id: Optional[str] = None

    def is_set(self) -> bool:
        return self._abandoned

    def abandon(self) -> bool:
        """Marks the caller gone; whether the thread had handed over an execution."""
        with self._lock:
            self._abandoned = True
            return self._handed_over

    def hand_over(self) -> bool:
        """Hands an execution over to the caller; ``False`` if the caller is gone."""
        with self._lock:
            if self._abandoned:
                return False
            self._handed_over = True
            return True


def _abandoned_error() -> AskfirstError:
    return AskfirstError(
        "the caller was cancelled: the call was withdrawn, or left unexecuted",
        code="abandoned",
    )


def _receipt_jti(call: Call) -> Optional[str]:
    if not call.receipt:
        return None
    jti = unverified_claims(call.receipt).get("jti")
    return str(jti) if jti is not None else None


class _SyncDecorator:
    def __init__(self, client: Client, tool: Optional[str], opts: GateOptions) -> None:
        self.client = client
        self.tool = tool
        self.opts = opts

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        client, opts = self.client, self.opts
        is_async = _core.gate_is_async(fn)
        tool = self.tool or getattr(fn, "__name__", None) or type(fn).__name__
        binder = Binder(fn)

        if is_async:

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                proposed, passthrough = binder.to_args(args, kwargs)
                call, executed = await client._start_async(tool, proposed, opts)
                approved = call.model_copy(update={"args": executed.args})
                token = _current.set(approved)
                try:
                    positional, keywords = approved_arguments(binder, approved, passthrough)
                    result = fn(*positional, **keywords)
                    if inspect.isawaitable(result):
                        result = await result
                except BaseException as e:
                    await client._finish_async(call.id, e, failed_outcome)
                    raise
                finally:
                    _current.reset(token)
                await client._finish_async(call.id, None, failed_outcome)
                return result

            return run_async

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            proposed, passthrough = binder.to_args(args, kwargs)
            call, executed = client._start(tool, proposed, opts)
            approved = call.model_copy(update={"args": executed.args})
            token = _current.set(approved)
            try:
                positional, keywords = approved_arguments(binder, approved, passthrough)
                result = fn(*positional, **keywords)
                refuse_coroutine(result, binder.name)
            except BaseException as e:
                client._finish(call.id, e, failed_outcome)
                raise
            finally:
                _current.reset(token)
            client._finish(call.id, None, failed_outcome)
            return result

        return run


class EventStream:
    """This agent's calls as they leave ``pending``, from :meth:`Client.events`. Iterate
    over it; ``last_event_id`` is the id of the last event handed out. :meth:`close` (or
    leaving a ``with`` block) ends it, also from another thread."""

    def __init__(self, client: Client, last_event_id: Optional[int], reconnect: bool) -> None:
        self.client = client
        self.last_event_id = last_event_id
        self.reconnect = reconnect
        self._closed = threading.Event()
        self._response: Optional[httpx.Response] = None

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        resp = self._response
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.close()

    def __iter__(self) -> Iterator[CallEvent]:
        client = self.client
        path = "/api/v1/events"
        req = Req("GET", path, _core.describe("GET", path), EVENTS_READ_TIMEOUT, idempotent=True)
        timeout = httpx.Timeout(client.config.timeout, read=EVENTS_READ_TIMEOUT, connect=10.0)
        failures = 0
        while not self._closed.is_set():
            headers = {**client.config.headers(), "Accept": "text/event-stream"}
            if self.last_event_id is not None:
                headers["Last-Event-ID"] = str(self.last_event_id)
            pause: Optional[float] = None
            try:
                with client._http.stream(
                    "GET", client.base_url + path, headers=headers, timeout=timeout
                ) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        pause = _core.retry_pause(resp, failures)
                        if not self.reconnect or pause is None or failures >= client.config.retries:
                            raise _core.api_error(resp, req.what)
                    else:
                        refused = _core.not_an_event_stream(resp, req.what, client.base_url)
                        if refused is not None:
                            raise refused
                        self._response = resp
                        parser = _core.SSEParser()
                        heard = False
                        for line in resp.iter_lines():
                            if not heard:
                                heard, failures = True, 0
                            event = parser.feed(line)
                            if event is not None:
                                self.last_event_id = event.id
                                yield event
                                if self._closed.is_set():
                                    return
                        if self._closed.is_set():
                            return
                        # The server ended the stream (it is shutting down, say).
                        if not self.reconnect:
                            return
                        if heard:
                            pause = _core.EVENT_STREAM_END_PAUSE
                        elif failures >= client.config.retries:
                            raise _core.ended_at_once(req.what, failures + 1)
                        else:
                            pause = _core.retry_pause(None, failures)
            except httpx.TransportError as e:
                if self._closed.is_set():
                    return
                err = _core.transport_error(e, req, client.base_url)
                if isinstance(e, httpx.LocalProtocolError):
                    raise err from None
                if not self.reconnect or failures >= client.config.retries:
                    raise err from e
                pause = _core.retry_pause(None, failures)
                log.info("%s; reconnecting in %.2f s", err, pause)
            except httpx.HTTPError:
                if self._closed.is_set():
                    return
                raise
            finally:
                self._response = None
            failures += 1
            self._closed.wait(pause or 0.0)
