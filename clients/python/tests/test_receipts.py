"""Receipt verification against receipts the server really signed, and how a verifier keeps
the keys it fetched (from a JWKS served here, with keys made here)."""

import base64
import hashlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


# --- Keys: fetched again once old, read within a limit -------------------------------------


class JwksHost:
    """Serves a JWKS on 127.0.0.1 that a test changes at will (no Content-Length: the body
    ends with the connection, so only a streamed read can limit it)."""

    def __init__(self) -> None:
        self.body = b'{"keys": []}'
        self.status = 200
        self.hits = 0
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits += 1
                self.send_response(host.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(host.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def publish(self, *keys: dict[str, Any]) -> None:
        self.body = json.dumps({"keys": list(keys)}).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def jwks_host() -> Iterator[JwksHost]:
    host = JwksHost()
    yield host
    host.close()


class Signer:
    """An Ed25519 key signing receipts the way askfirst does."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwk = {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}

    def receipt(self, tool: str, args: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://askfirst.test",
            "sub": "call-1",
            "aud": tool,
            "jti": f"call-1.{uuid.uuid4().hex}",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "agent": "bot",
            "tool": tool,
            "args_sha256": receipts.args_sha256(args),
            "decision": {"by": "policy", "rule": "allow-all"},
            "policy_version": 1,
            "audit": {"id": 1, "hash": "00"},
        }
        return jwt.encode(
            claims, self.key, algorithm="EdDSA", headers={"kid": self.kid, "typ": receipts.TYPE}
        )


def test_keys_are_fetched_again_once_five_minutes_old(
    jwks_host: JwksHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer("k1")
    jwks_host.publish(signer.jwk)
    verifier = askfirst.ReceiptVerifier(jwks_url=jwks_host.url)
    token = signer.receipt("deploy", {"n": 1})
    assert verifier.verify(token, tool="deploy", args={"n": 1}).sub == "call-1"
    assert jwks_host.hits == 1

    # askfirst withdraws the key: the cached keys still verify while they are fresh …
    jwks_host.publish()
    verifier.verify(token, tool="deploy", args={"n": 1})
    assert jwks_host.hits == 1
    # … and are fetched again once old: the withdrawn key no longer verifies.
    monkeypatch.setattr(receipts, "KEYS_MAX_AGE", 0.0)
    with pytest.raises(askfirst.ReceiptError) as withdrawn:
        verifier.verify(token, tool="deploy", args={"n": 1})
    assert withdrawn.value.code == "unknown_key" and jwks_host.hits == 2

    # Old keys that cannot be fetched refuse receipts rather than trust what they hold.
    jwks_host.publish(signer.jwk)
    jwks_host.status = 503
    with pytest.raises(askfirst.ReceiptError) as unavailable:
        verifier.verify(token, tool="deploy", args={"n": 1})
    assert unavailable.value.code == "keys_unavailable"
    jwks_host.status = 200
    assert verifier.verify(token, tool="deploy", args={"n": 1}).sub == "call-1"


def test_an_unknown_key_is_fetched_for_at_most_every_10_seconds(jwks_host: JwksHost) -> None:
    known, rotated = Signer("k1"), Signer("k2")
    jwks_host.publish(known.jwk)
    verifier = askfirst.ReceiptVerifier(jwks_url=jwks_host.url)
    verifier.verify(known.receipt("deploy", {}), tool="deploy", args={})
    for _ in range(3):
        with pytest.raises(askfirst.ReceiptError) as unknown:
            verifier.verify(rotated.receipt("deploy", {}), tool="deploy", args={})
        assert unknown.value.code == "unknown_key"
    assert jwks_host.hits == 1, "fetched again within 10 s of the last fetch: not at all"


@pytest.mark.anyio
async def test_async_keys_are_fetched_again_and_read_within_1_mib(
    jwks_host: JwksHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer("k1")
    jwks_host.publish(signer.jwk)
    verifier = askfirst.ReceiptVerifier(jwks_url=jwks_host.url)
    token = signer.receipt("deploy", {"n": 2})
    assert (await verifier.averify(token, tool="deploy", args={"n": 2})).sub == "call-1"
    monkeypatch.setattr(receipts, "KEYS_MAX_AGE", 0.0)
    jwks_host.body = b'{"keys": [], "padding": "' + b"x" * (1 << 20) + b'"}'
    with pytest.raises(askfirst.ReceiptError, match="more than 1 MiB") as big:
        await verifier.averify(token, tool="deploy", args={"n": 2})
    assert big.value.code == "keys_unavailable"
    with pytest.raises(askfirst.ReceiptError, match="more than 1 MiB") as big:
        verifier.verify(token, tool="deploy", args={"n": 2})
    assert big.value.code == "keys_unavailable"


def test_verify_once_remembers_a_bounded_number_of_receipts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = Signer("k1")
    verifier = askfirst.ReceiptVerifier(jwks={"keys": [signer.jwk]})
    monkeypatch.setattr(receipts, "MAX_REMEMBERED", 2)
    for _ in range(2):
        verifier.verify_once(signer.receipt("deploy", {}), tool="deploy", args={})
    with pytest.raises(askfirst.ReceiptError) as full:
        verifier.verify_once(signer.receipt("deploy", {}), tool="deploy", args={})
    assert full.value.code == "too_many_remembered"
