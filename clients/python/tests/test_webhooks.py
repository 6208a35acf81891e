"""Webhook verification against webhooks the server really sent."""

import time
from collections.abc import Iterator

import pytest

import askfirst
from askfirst import Status, webhooks

from support import Agent, Server, WebhookReceiver


@pytest.fixture
def receiver(server: Server, agent: Agent) -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    # Callbacks to 127.0.0.1 are refused unless an admin allowed the origin for the agent.
    server.cli("agent", "set-callbacks", agent.name, r.origin)
    yield r
    r.close()


def signature_of(delivery_headers: list[tuple[str, str]]) -> str:
    return next(v for k, v in delivery_headers if k.lower() == "askfirst-signature")


def test_a_real_callback_verifies(
    server: Server, agent: Agent, client: askfirst.Client, receiver: WebhookReceiver
) -> None:
    call = client.propose(
        "gated_ship",
        {"order": 5},
        checkpoint={"step": 3},
        callback_url=f"{receiver.origin}/askfirst",
    )
    server.approve(call.id)
    delivery = receiver.next()

    decided = webhooks.verify_call(delivery.headers, delivery.body, agent.webhook_secret)
    assert decided.id == call.id and decided.status is Status.APPROVED
    assert decided.checkpoint == {"step": 3} and decided.args == {"order": 5}
    as_json = webhooks.verify(dict(delivery.headers), delivery.body.decode(), agent.webhook_secret)
    assert as_json["id"] == call.id

    with pytest.raises(askfirst.WebhookError) as tampered:
        webhooks.verify(
            delivery.headers,
            delivery.body.replace(b'"order":5', b'"order":6'),
            agent.webhook_secret,
        )
    assert tampered.value.code == "mismatch"
    with pytest.raises(askfirst.WebhookError) as wrong:
        webhooks.verify(delivery.headers, delivery.body, "whsec_someone_else")
    assert wrong.value.code == "mismatch"
    with pytest.raises(askfirst.WebhookError) as replayed:
        webhooks.verify(
            delivery.headers, delivery.body, agent.webhook_secret, now=time.time() + 600
        )
    assert replayed.value.code == "timestamp"
    with pytest.raises(askfirst.WebhookError) as unsigned:
        webhooks.verify([("Content-Type", "application/json")], delivery.body, agent.webhook_secret)
    assert unsigned.value.code == "missing_header"
    # The server signs as documented: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
    header = signature_of(delivery.headers)
    t = int(header.split(",")[0].removeprefix("t="))
    assert abs(t - time.time()) < 60
    assert webhooks.sign(agent.webhook_secret, delivery.body, t) == header


def test_during_rotation_either_secret_verifies(
    server: Server, agent: Agent, client: askfirst.Client, receiver: WebhookReceiver
) -> None:
    old = agent.webhook_secret
    new = server.cli_json("agent", "rotate-secret", agent.name, "--grace", "1h")["secret"]
    assert new != old
    call = client.propose("gated_ship", {"order": 6}, callback_url=f"{receiver.origin}/askfirst")
    server.deny(call.id, "out of stock")
    delivery = receiver.next()
    assert signature_of(delivery.headers).count("v1=") == 2
    for secret in (old, new, [old, new], ["whsec_unrelated", new]):
        decided = webhooks.verify_call(delivery.headers, delivery.body, secret)
        assert decided.status is Status.DENIED and decided.feedback == "out of stock"
    with pytest.raises(askfirst.WebhookError):
        webhooks.verify(delivery.headers, delivery.body, ["whsec_unrelated"])


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("", "malformed_header"),
        ("t=1,v1=00,", "malformed_header"),
        ("t=x,v1=00", "malformed_header"),
        ("t=1,t=1,v1=00", "malformed_header"),
        ("v1=00", "malformed_header"),
        ("t=1,v1=0g", "malformed_header"),
        ("t=1,v2=00", "missing_signature"),
    ],
)
def test_malformed_headers_are_refused(header: str, code: str) -> None:
    with pytest.raises(askfirst.WebhookError) as refused:
        webhooks.verify({"Askfirst-Signature": header}, b"{}", "s", now=1)
    assert refused.value.code == code
