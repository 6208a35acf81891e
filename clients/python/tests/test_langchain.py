"""LangChain tools behind askfirst: ``invoke``/``ainvoke``, inside a LangGraph ``ToolNode``,
and the checkpointed pattern with LangGraph's ``interrupt()``."""

import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt

import askfirst
from askfirst import Status
from askfirst.langchain import gated, refusal_text

from support import Agent, Server, decide


def invoice_tool(sent: list[tuple[str, int]]) -> BaseTool:
    @tool
    def gated_send_invoice(customer: str, amount: int) -> str:
        """Send an invoice to a customer."""
        sent.append((customer, amount))
        return f"invoiced {customer} {amount} EUR"

    return gated_send_invoice


def tool_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_call", "id": f"tc-{uuid.uuid4().hex[:8]}", "name": name, "args": args}


def test_a_gated_tool_runs_with_the_approved_arguments(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    sent: list[tuple[str, int]] = []
    inner = invoice_tool(sent)
    wrapped = gated(inner, client=client, risk=["financial"], reason="month-end billing")
    assert (wrapped.name, wrapped.description, wrapped.args) == (
        inner.name,
        inner.description,
        inner.args,
    )
    person = decide(
        server,
        agent,
        "gated_send_invoice",
        lambda cid: server.approve(cid, args={"customer": "acme", "amount": 90}),
    )
    message = wrapped.invoke(tool_call("gated_send_invoice", {"customer": "acme", "amount": 900}))
    call_id = person.join()
    assert isinstance(message, ToolMessage) and message.status == "success"
    assert message.content == "invoiced acme 90 EUR"
    assert sent == [("acme", 90)]
    view = client.get(call_id)
    assert view.status is Status.EXECUTED and view.outcome is askfirst.Outcome.SUCCEEDED
    assert view.reason == "month-end billing" and "financial" in view.risk

    # Invoked with plain arguments, it returns the tool's own output.
    person = decide(server, agent, "gated_send_invoice", server.approve)
    assert wrapped.invoke({"customer": "initech", "amount": 5}) == "invoiced initech 5 EUR"
    person.join()


def test_a_denial_becomes_the_tools_error_text(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    sent: list[tuple[str, int]] = []
    wrapped = gated(invoice_tool(sent), client=client)
    person = decide(
        server,
        agent,
        "gated_send_invoice",
        lambda cid: server.deny(cid, "the amount is wrong", do_not_retry=True),
    )
    message = wrapped.invoke(tool_call("gated_send_invoice", {"customer": "acme", "amount": 1}))
    person.join()
    assert isinstance(message, ToolMessage) and message.status == "error"
    assert message.content == "a person denied this: the amount is wrong; do not retry"
    assert sent == []
    # The repeat is refused at once, and the model is told so.
    again = wrapped.invoke(tool_call("gated_send_invoice", {"customer": "acme", "amount": 1}))
    assert again.status == "error" and again.content.startswith(
        "a person denied this earlier and said not to retry: the amount is wrong"
    )


def test_an_inner_tool_error_is_reported_as_tool_error(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    from langchain_core.tools import ToolException

    @tool
    def gated_charge(card: str) -> str:
        """Charge a card."""
        raise ToolException("card declined")

    wrapped = gated(gated_charge, client=client)
    person = decide(server, agent, "gated_charge", server.approve)
    with pytest.raises(ToolException, match="card declined"):
        wrapped.invoke({"card": "4242"})
    view = client.get(person.join())
    assert view.outcome is askfirst.Outcome.TOOL_ERROR and view.status is Status.EXECUTED


@pytest.mark.anyio
async def test_ainvoke_with_the_async_client(server: Server, agent: Agent) -> None:
    sent: list[tuple[str, int]] = []
    async with askfirst.AsyncClient(server.base_url, agent.key) as aclient:
        wrapped = gated(invoice_tool(sent), client=aclient)
        person = decide(server, agent, "gated_send_invoice", server.approve)
        message = await wrapped.ainvoke(
            tool_call("gated_send_invoice", {"customer": "globex", "amount": 7})
        )
        call_id = person.join()
        assert isinstance(message, ToolMessage) and message.content == "invoiced globex 7 EUR"
        assert (await aclient.get(call_id)).status is Status.EXECUTED
    assert sent == [("globex", 7)]


def restart_tool(restarted: list[str]) -> BaseTool:
    @tool
    def gated_restart(service: str) -> str:
        """Restart a service."""
        restarted.append(service)
        return f"restarted {service}"

    return gated_restart


def one_tool_call_model(name: str, args: dict[str, Any]) -> Any:
    """A model node that asks for one tool call (the test plays the model)."""

    def model(state: MessagesState) -> dict[str, Any]:
        call = {"name": name, "args": args, "id": "call-1", "type": "tool_call"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    return model


def test_inside_a_langgraph_tool_node(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    restarted: list[str] = []
    builder = StateGraph(MessagesState)
    builder.add_node("model", one_tool_call_model("gated_restart", {"service": "api"}))
    builder.add_node("tools", ToolNode([gated(restart_tool(restarted), client=client)]))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    builder.add_edge("tools", END)
    graph = builder.compile()

    person = decide(
        server,
        agent,
        "gated_restart",
        lambda cid: server.approve(cid, args={"service": "api-canary"}),
    )
    out = graph.invoke({"messages": [HumanMessage("restart the api")]})
    person.join()
    last = out["messages"][-1]
    assert isinstance(last, ToolMessage) and last.content == "restarted api-canary"
    assert restarted == ["api-canary"]

    person = decide(
        server, agent, "gated_restart", lambda cid: server.deny(cid, "not during the sale")
    )
    out = graph.invoke({"messages": [HumanMessage("restart the api")]})
    person.join()
    last = out["messages"][-1]
    assert isinstance(last, ToolMessage) and last.status == "error"
    assert "a person denied this: not during the sale" in str(last.content)
    assert restarted == ["api-canary"]


def test_the_checkpointed_pattern_with_interrupt(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    """The graph stops at a gated call (a checkpoint, no waiting thread) and is resumed when
    the decision arrives — here from the event stream; a webhook works the same way."""
    restarted: list[str] = []
    restart = restart_tool(restarted)
    proposed: list[str] = []

    def act(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        tc = state["messages"][-1].tool_calls[0]  # type: ignore[attr-defined]
        thread = config["configurable"]["thread_id"]
        # This node runs again from the top on resume, perhaps in another process: the key
        # finds the same call under the same session (a client's default session is its own).
        call = client.propose(
            tc["name"],
            tc["args"],
            session=thread,
            idempotency_key=f"{thread}:{tc['id']}",
            checkpoint={"thread_id": thread},
        )
        proposed.append(call.id)
        if call.status is Status.PENDING:
            interrupt({"askfirst_call": call.id})
            call = client.get(call.id)  # the decision, from askfirst itself
        try:
            call.raise_for_status()
        except askfirst.NotApproved as e:
            return {
                "messages": [ToolMessage(refusal_text(e), tool_call_id=tc["id"], status="error")]
            }
        args = client.execute(call.id).args  # an approver's edit included
        return {"messages": [ToolMessage(restart.invoke(args), tool_call_id=tc["id"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", one_tool_call_model("gated_restart", {"service": "db"}))
    builder.add_node("act", act)
    builder.add_edge(START, "model")
    builder.add_edge("model", "act")
    builder.add_edge("act", END)
    graph = builder.compile(checkpointer=InMemorySaver())

    config: RunnableConfig = {"configurable": {"thread_id": "run-7"}}
    paused = graph.invoke({"messages": [HumanMessage("restart the db")]}, config)
    assert "__interrupt__" in paused and restarted == []
    call_id = paused["__interrupt__"][0].value["askfirst_call"]

    server.approve(call_id, args={"service": "db-replica"})
    with client.events(last_event_id=0) as events:
        decided = next(e.call for e in events if e.call.id == call_id)
    thread = decided.checkpoint["thread_id"]
    done = graph.invoke(Command(resume=decided.id), {"configurable": {"thread_id": thread}})
    assert done["messages"][-1].content == "restarted db-replica"
    assert restarted == ["db-replica"]
    assert proposed == [call_id, call_id]


def test_a_replayed_key_needs_the_same_session(server: Server, agent: Agent) -> None:
    """A resume in another process has another client, so another default session: the
    key finds its call only under the session it was first used with."""
    with (
        askfirst.Client(server.base_url, agent.key) as first,
        askfirst.Client(server.base_url, agent.key) as resumed,
    ):
        assert first.session != resumed.session
        args = {"service": "db"}
        call = first.propose("gated_restart", args, session="run-8", idempotency_key="run-8:tc-1")
        again = resumed.propose(
            "gated_restart", args, session="run-8", idempotency_key="run-8:tc-1"
        )
        assert again.id == call.id
        with pytest.raises(askfirst.AskfirstError) as reused:
            resumed.propose("gated_restart", args, idempotency_key="run-8:tc-1")
        assert (reused.value.status, reused.value.code) == (409, "idempotency_key_reused")
        first.cancel(call.id)


def test_a_string_input_is_proposed_as_the_tools_argument(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    restarted: list[str] = []
    wrapped = gated(restart_tool(restarted), client=client)
    person = decide(server, agent, "gated_restart", server.approve)
    # langchain-core reads a string as the schema's first field: so is it proposed.
    assert wrapped.invoke("api") == "restarted api"
    view = client.get(person.join())
    assert view.proposed_args == {"service": "api"} and view.status is Status.EXECUTED
    assert restarted == ["api"]
