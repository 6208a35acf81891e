"""LangChain: gate any tool behind askfirst (``pip install "askfirst[langchain]"``).

::

    from askfirst.langchain import gated

    deploy = gated(deploy_tool, client=askfirst.Client(), risk=["production"])
    deploy.invoke({"service": "api", "env": "production"})   # waits for people

``invoke``/``ainvoke`` (and so a LangGraph ``ToolNode`` or agent) propose the call, wait for
people, and run the wrapped tool with the approved arguments — an approver's edit
included. A denial, an expiry or a withdrawal becomes the tool's error text for the model
("a person denied this: …; do not retry"), with ``status="error"`` on the ``ToolMessage``;
the wrapped tool then never runs.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ._core import to_json
from .aio import AsyncClient
from .client import Client
from .errors import Cancelled, Denied, DoNotRetry, Expired, NotApproved, Stale, Timeout
from .models import Outcome

AnyClient = Union[Client, AsyncClient]


class ApprovalRefused(ToolException):
    """The call was not approved; ``str()`` is the text the model reads. ``error`` is the
    askfirst exception behind it."""

    def __init__(self, text: str, error: Exception) -> None:
        super().__init__(text)
        self.error = error


def refusal_text(error: Exception) -> str:
    """What the model is told when a gated call will not run."""
    if isinstance(error, DoNotRetry):
        return f"a person denied this earlier and said not to retry: {error.feedback}; do not retry"
    if isinstance(error, Denied):
        code = f" (reason: {error.reason_code})" if error.reason_code else ""
        if error.by_policy:
            return f"policy does not allow this: {error.feedback}; do not retry"
        if not error.retry:
            return f"a person denied this: {error.feedback}{code}; do not retry"
        return f"a person denied this: {error.feedback}{code}; change course before trying again"
    if isinstance(error, Expired):
        return f"nobody approved this in time ({error.feedback}); it did not run"
    if isinstance(error, Cancelled):
        return "the request for approval was withdrawn; it did not run"
    if isinstance(error, Stale):
        return f"{error.feedback}; it did not run"
    if isinstance(error, Timeout):
        return f"{error.message}; it did not run"
    return f"it did not run: {error}"


def _classify(error: BaseException) -> Outcome:
    # A ToolException is the tool's own error: it returned, with an error.
    return Outcome.TOOL_ERROR if isinstance(error, ToolException) else Outcome.FAILED


class GatedTool(BaseTool):
    """A LangChain tool that asks askfirst first. Made by :func:`gated`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseTool
    """The wrapped tool."""
    gate_options: dict[str, Any] = Field(default_factory=dict)
    """How calls are proposed: ``risk``, ``reason``, ``session``, ``context``,
    ``alternatives``, ``receipt``, ``timeout``."""

    _sync: Optional[Client] = PrivateAttr(default=None)
    _async: Optional[AsyncClient] = PrivateAttr(default=None)

    def _sync_client(self) -> Client:
        if self._sync is None:
            other = self._async
            if other is None:
                self._sync = Client()
            else:
                c = other.config
                self._sync = Client(
                    c.base_url, c.api_key, timeout=c.timeout, retries=c.retries, session=c.session
                )
        return self._sync

    def _async_client(self) -> AsyncClient:
        if self._async is None:
            other = self._sync
            if other is None:
                self._async = AsyncClient()
            else:
                c = other.config
                self._async = AsyncClient(
                    c.base_url, c.api_key, timeout=c.timeout, retries=c.retries, session=c.session
                )
        return self._async

    def _split(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The arguments to propose (what the model chose), and the injected ones (run-time
        values such as a tool call id) that are passed on as they are."""
        if args:  # a tool invoked with one string
            return {self._string_field(): args[0]}, {}
        filter_injected = getattr(self, "_filter_injected_args", None)
        visible = dict(filter_injected(kwargs)) if filter_injected is not None else dict(kwargs)
        injected = {k: v for k, v in kwargs.items() if k not in visible}
        return to_json(visible, what=f"the arguments of tool {self.name}"), injected

    def _string_field(self) -> str:
        """The argument a string input stands for: as langchain-core reads it, the first
        field of a structured tool's schema (so the proposal shows the argument the tool
        runs with); ``tool_input`` for a tool without a schema."""
        schema = self.args_schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            fields = list(schema.model_fields)
            if fields:
                return fields[0]
        return "tool_input"

    def _input(
        self, approved: Mapping[str, Any], injected: Mapping[str, Any]
    ) -> Union[str, dict[str, Any]]:
        if (
            set(approved) == {"tool_input"}
            and isinstance(approved["tool_input"], str)
            and not injected
        ):
            schema = self.inner.args_schema
            if schema is None:
                return str(approved["tool_input"])
        return {**approved, **injected}

    def _output(self, message: Any) -> Any:
        if self.inner.response_format == "content_and_artifact" and isinstance(
            message, ToolMessage
        ):
            return message.content, message.artifact
        return message

    def _tool_input(
        self, approved: Mapping[str, Any], injected: Mapping[str, Any], call_id: str
    ) -> Any:
        tool_input = self._input(approved, injected)
        if self.inner.response_format == "content_and_artifact" and isinstance(tool_input, dict):
            # Asked as a tool call, the tool answers with its artifact too.
            return {
                "type": "tool_call",
                "name": self.inner.name,
                "id": f"askfirst-{call_id}",
                "args": tool_input,
            }
        return tool_input

    def _run(
        self,
        *args: Any,
        run_manager: Optional[CallbackManagerForToolRun] = None,
        **kwargs: Any,
    ) -> Any:
        client = self._sync_client()
        proposed, injected = self._split(args, kwargs)
        callbacks = run_manager.get_child() if run_manager is not None else None

        def run(approved: dict[str, Any]) -> Any:
            from ._gate import current_call

            call = current_call()
            tool_input = self._tool_input(approved, injected, call.id if call else "call")
            return self._output(self.inner.invoke(tool_input, {"callbacks": callbacks}))

        try:
            return client.run_gated(
                self.name, proposed, run, classify=_classify, **self.gate_options
            )
        except (NotApproved, Timeout) as e:
            raise ApprovalRefused(refusal_text(e), e) from e

    async def _arun(
        self,
        *args: Any,
        run_manager: Optional[AsyncCallbackManagerForToolRun] = None,
        **kwargs: Any,
    ) -> Any:
        client = self._async_client()
        proposed, injected = self._split(args, kwargs)
        callbacks = run_manager.get_child() if run_manager is not None else None

        async def run(approved: dict[str, Any]) -> Any:
            from ._gate import current_call

            call = current_call()
            tool_input = self._tool_input(approved, injected, call.id if call else "call")
            return self._output(await self.inner.ainvoke(tool_input, {"callbacks": callbacks}))

        try:
            return await client.run_gated(
                self.name, proposed, run, classify=_classify, **self.gate_options
            )
        except (NotApproved, Timeout) as e:
            raise ApprovalRefused(refusal_text(e), e) from e


def _error_handler(inner_flag: Any) -> Any:
    """The wrapper's ``handle_tool_error``: a refusal becomes the model's text; any other
    ``ToolException`` is handled as the wrapped tool would have."""

    def handle(e: ToolException) -> Any:
        if isinstance(e, ApprovalRefused):
            return str(e)
        if not inner_flag:
            raise e
        if isinstance(inner_flag, bool):
            return e.args[0] if e.args else "Tool execution error"
        if isinstance(inner_flag, str):
            return inner_flag
        return inner_flag(e)

    return handle


def gated(
    tool: BaseTool,
    client: Optional[AnyClient] = None,
    *,
    async_client: Optional[AsyncClient] = None,
    risk: Optional[Sequence[str]] = None,
    reason: Optional[str] = None,
    session: Optional[str] = None,
    context: Optional[Mapping[str, Any]] = None,
    alternatives: Optional[Sequence[str]] = None,
    receipt: bool = False,
    timeout: Optional[float] = None,
) -> GatedTool:
    """``tool``, asking askfirst first: the proposal is the tool's name with the arguments
    the model chose. ``client`` is a :class:`~askfirst.Client` or
    :class:`~askfirst.AsyncClient` (default: one from ``ASKFIRST_URL``/``ASKFIRST_KEY``);
    the other kind, needed for ``invoke`` or ``ainvoke``, is made from its settings (or give
    ``async_client``). The remaining options are those of ``require_approval``."""
    if not isinstance(tool, BaseTool):
        raise TypeError(f"gated() wraps a LangChain BaseTool, not {type(tool).__name__}")
    options: dict[str, Any] = {
        "risk": list(risk) if risk else None,
        "reason": reason,
        "session": session,
        "context": dict(context) if context is not None else None,
        "alternatives": list(alternatives) if alternatives else None,
        "receipt": receipt,
        "timeout": timeout,
    }
    wrapper = GatedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        response_format=tool.response_format,
        tags=tool.tags,
        metadata=tool.metadata,
        handle_tool_error=_error_handler(tool.handle_tool_error),
        handle_validation_error=tool.handle_validation_error,
        inner=tool,
        gate_options=options,
    )
    if isinstance(client, AsyncClient):
        wrapper._async = client
    elif client is not None:
        wrapper._sync = client
    if async_client is not None:
        wrapper._async = async_client
    return wrapper
