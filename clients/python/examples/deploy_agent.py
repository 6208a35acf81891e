"""A small agent that asks first: it plays a four-step plan whose risky steps wait for a
person in the askfirst inbox (or `askfirst calls approve|deny`).

    export ASKFIRST_URL=http://127.0.0.1:3000
    export ASKFIRST_KEY=af_...            # askfirst agent create example-agent
    python examples/deploy_agent.py            # the sync client
    python examples/deploy_agent.py --async    # the same plan with AsyncClient

Under the default policy: reading the status is allowed at once, the production deploy
and the customer e-mail are gated (approve, edit or deny them), and exporting credentials
is denied outright. Each step prints what happened; a denial's feedback is what a real
agent would feed back to its model.
"""

import argparse
import asyncio
import sys
from typing import Any, Callable

import askfirst


def build_tools(gate: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """The agent's tools, each behind askfirst. `gate` is a client's require_approval."""

    @gate(reason="check the service before touching it")
    def read_status(service: str) -> str:
        return f"{service}: 3/3 replicas healthy, version 1.41"

    @gate(risk=[askfirst.Risk.PRODUCTION], reason="ship the login fix (#311) the tests passed")
    def deploy(service: str, env: str, version: str) -> str:
        call = askfirst.current_call()
        who = call.approved_by.people if call and call.approved_by else None
        return f"deployed {service} {version} to {env} (approved by {who or 'policy'})"

    @gate(tool="send_email", reason="tell the customer the fix is live")
    def send_email(to: str, subject: str) -> str:
        return f"mail to {to}: {subject!r}"

    @gate(reason="rotate the deploy key")
    def export_credentials(service: str) -> str:
        return "this never runs under the default policy"

    return {
        "read_status": read_status,
        "deploy": deploy,
        "send_email": send_email,
        "export_credentials": export_credentials,
    }


PLAN: list[tuple[str, dict[str, Any]]] = [
    ("read_status", {"service": "api"}),
    ("deploy", {"service": "api", "env": "production", "version": "1.42"}),
    ("send_email", {"to": "ops@customer.example", "subject": "Login fix deployed"}),
    ("export_credentials", {"service": "api"}),
]


def explain(step: str, error: askfirst.AskfirstError) -> str:
    if isinstance(error, askfirst.DoNotRetry):
        return f"{step}: refused again ({error.feedback}); changing course"
    if isinstance(error, askfirst.Denied):
        who = "policy" if error.by_policy else "a person"
        retry = "may retry differently" if error.retry else "must not retry"
        return f"{step}: denied by {who}: {error.feedback} ({retry})"
    if isinstance(error, askfirst.Expired):
        return f"{step}: nobody decided in time; skipping"
    if isinstance(error, askfirst.Timeout):
        # Not a NotApproved: the wait (or a request) ran out of time; the call did not run.
        return f"{step}: timed out ({error.message}); skipping"
    return f"{step}: {error}"


def run_sync() -> int:
    with askfirst.Client() as client:
        print(f"agent session {client.session} at {client.base_url}")
        tools = build_tools(client.require_approval)
        for step, args in PLAN:
            print(f"-> {step} {args} (waiting for a person if it is gated)")
            try:
                print(f"   {tools[step](**args)}")
            except (askfirst.NotApproved, askfirst.Timeout) as e:
                print(f"   {explain(step, e)}")
    return 0


async def run_async() -> int:
    async with askfirst.AsyncClient() as client:
        print(f"agent session {client.session} at {client.base_url} (async)")
        tools = build_tools(client.require_approval)
        for step, args in PLAN:
            print(f"-> {step} {args} (waiting for a person if it is gated)")
            try:
                print(f"   {await tools[step](**args)}")
            except (askfirst.NotApproved, askfirst.Timeout) as e:
                print(f"   {explain(step, e)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--async", dest="use_async", action="store_true", help="use AsyncClient")
    opts = parser.parse_args()
    try:
        return asyncio.run(run_async()) if opts.use_async else run_sync()
    except askfirst.AskfirstError as e:
        print(f"askfirst: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
