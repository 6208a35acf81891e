"""Receipt verification against receipts the server really signed."""

import base64
import hashlib
import json
import time

import httpx
import pytest
import rfc8785

import askfirst
from askfirst import Status, receipts

from support import Agent, Server, decide


def approved_with_edit(server: Server, agent: Agent, client: askfirst.Client) -> askfirst.Call:
    person = decide(
        server,
        agent,
        "gated_deploy",
        lambda cid: server.approve(cid, args={"env": "staging", "n": 1.0}),
    )
    call = client.gate("gated_deploy", {"env": "production", "n": 1})
    person.join()
    assert call.status is Status.APPROVED and call.receipt
    return call


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_receipt_for_an_edited_approval_verifies(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    call = approved_with_edit(server, agent, client)
    assert call.receipt is not None
    claims = askfirst.verify_receipt(
        call.receipt, tool="gated_deploy", args=call.args, base_url=server.base_url
    )
    assert (claims.sub, claims.aud, claims.tool, claims.agent) == (
        call.id,
        "gated_deploy",
        "gated_deploy",
        agent.name,
    )
    assert claims.iss == server.base_url and claims.exp > time.time() > claims.nbf - 30
    assert claims.decision.by == "people" and claims.decision.rule == "gate-people"
    assert [a.username for a in claims.decision.approvers] == ["ann"]
    # RFC 8785: 1.0 and 1 are one number.
    expected = hashlib.sha256(rfc8785.dumps({"env": "staging", "n": 1})).hexdigest()
    assert claims.args_sha256 == expected == receipts.args_sha256(call.args)

    def refused(token: str, tool: str = "gated_deploy", args: object = None) -> str:
        with pytest.raises(askfirst.ReceiptError) as err:
            askfirst.verify_receipt(
                token, tool=tool, args=call.args if args is None else args, base_url=server.base_url
            )
        return err.value.code

    # What the agent first proposed is not what was approved.
    assert refused(call.receipt, args={"env": "production", "n": 1}) == "wrong_args"
    assert refused(call.receipt, tool="gated_destroy") == "wrong_tool"
    header, payload, signature = call.receipt.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refused(f"{header}.{payload}.{flipped}") == "bad_signature"
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["args_sha256"] = hashlib.sha256(rfc8785.dumps({"env": "production", "n": 1})).hexdigest()
    forged_payload = b64(json.dumps(forged).encode())
    assert refused(f"{header}.{forged_payload}.{signature}") == "bad_signature"
    assert refused("not.a.receipt") == "malformed"

    # Time, checked on the verified claims.
    raw = receipts.unverified_claims(call.receipt)
    with pytest.raises(askfirst.ReceiptError) as late:
        receipts.check_claims(raw, tool="gated_deploy", args=call.args, now=claims.exp + 31)
    assert late.value.code == "expired"
    with pytest.raises(askfirst.ReceiptError) as early:
        receipts.check_claims(raw, tool="gated_deploy", args=call.args, now=claims.nbf - 31)
    assert early.value.code == "not_yet_valid"


def test_an_allowed_call_that_asks_gets_a_receipt(server: Server, client: askfirst.Client) -> None:
    asked = client.propose("read_ledger", {"month": "2026-11"}, receipt=True)
    plain = client.propose("read_ledger", {"month": "2026-10"})
    assert asked.status is Status.ALLOWED and asked.receipt and plain.receipt is None
    jwks = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
    claims = askfirst.verify_receipt(
        asked.receipt, tool="read_ledger", args={"month": "2026-11"}, jwks=jwks
    )
    assert claims.decision.by == "policy" and claims.sub == asked.id

    # A JWKS without the signing key: unknown.
    other = {"keys": [{**k, "kid": k["kid"] + "-old"} for k in jwks["keys"]]}
    with pytest.raises(askfirst.ReceiptError) as unknown:
        askfirst.verify_receipt(
            asked.receipt, tool="read_ledger", args={"month": "2026-11"}, jwks=other
        )
    assert unknown.value.code == "unknown_key"


def test_verify_once_refuses_a_replay(server: Server, client: askfirst.Client) -> None:
    asked = client.propose("read_ledger", {"month": "2026-09"}, receipt=True)
    assert asked.receipt is not None
    verifier = askfirst.ReceiptVerifier(server.base_url, issuer=server.base_url)
    verifier.verify_once(asked.receipt, tool="read_ledger", args={"month": "2026-09"})
    with pytest.raises(askfirst.ReceiptError) as again:
        verifier.verify_once(asked.receipt, tool="read_ledger", args={"month": "2026-09"})
    assert again.value.code == "replayed"
    with pytest.raises(askfirst.ReceiptError) as elsewhere:
        askfirst.ReceiptVerifier(server.base_url, issuer="https://askfirst.example.com").verify(
            asked.receipt, tool="read_ledger", args={"month": "2026-09"}
        )
    assert elsewhere.value.code == "wrong_issuer"


@pytest.mark.anyio
async def test_async_verification(server: Server, agent: Agent) -> None:
    async with askfirst.AsyncClient(server.base_url, agent.key) as aclient:
        asked = await aclient.propose("read_ledger", {"month": "2026-08"}, receipt=True)
    assert asked.receipt is not None
    claims = await askfirst.averify_receipt(
        asked.receipt, tool="read_ledger", args={"month": "2026-08"}, base_url=server.base_url
    )
    assert claims.sub == asked.id


def test_execute_records_the_receipt_handed_on(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    call = approved_with_edit(server, agent, client)
    assert call.receipt is not None
    with pytest.raises(askfirst.AskfirstError) as mismatch:
        client.execute(call.id, jti="someone-elses.1")
    assert (mismatch.value.status, mismatch.value.code) == (409, "receipt_mismatch")
    jti = receipts.unverified_claims(call.receipt)["jti"]
    assert client.execute(call.id, jti=jti).args == {"env": "staging", "n": 1.0}


def test_the_decorator_hands_the_receipt_to_the_function(
    server: Server, agent: Agent, client: askfirst.Client
) -> None:
    checked: list[askfirst.ReceiptClaims] = []

    @client.require_approval(tool="gated_transfer", receipt=True)
    def transfer(account: str, cents: int) -> None:
        # What a tool server does with the receipt the agent passes along.
        call = askfirst.current_call()
        assert call is not None and call.receipt is not None
        checked.append(
            askfirst.verify_receipt(
                call.receipt,
                tool="gated_transfer",
                args={"account": account, "cents": cents},
                base_url=server.base_url,
            )
        )

    person = decide(
        server,
        agent,
        "gated_transfer",
        lambda cid: server.approve(cid, args={"account": "b", "cents": 5}),
    )
    transfer("a", 500)
    call_id = person.join()
    assert [c.sub for c in checked] == [call_id]
    assert client.get(call_id).status is Status.EXECUTED
