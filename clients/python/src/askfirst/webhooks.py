"""Verifying the webhooks askfirst sends: agents' callbacks (the call, when people decide)
and notification channels' signed webhooks.

Each delivery is a ``POST`` whose header ``Askfirst-Signature`` is
``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``. While a secret is
being rotated (``askfirst agent rotate-secret NAME --grace 1h``) the header carries two
``v1`` values, one per secret, so a receiver holding either one verifies it; a receiver
may also hold both (pass a list).
"""

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

from pydantic import ValidationError

from .errors import WebhookError
from .models import Call

SIGNATURE_HEADER = "Askfirst-Signature"
"""The header carrying the signature."""
DEFAULT_TOLERANCE = 300
"""How far a signature's timestamp may be from now, in seconds, either way."""

Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]
"""A request's headers: a mapping (any case of names; ``dict``, Starlette's, Flask's,
httpx's …) or (name, value) pairs."""
Secrets = Union[str, bytes, Sequence[Union[str, bytes]]]


def sign(secret: Union[str, bytes], body: Union[bytes, str], t: Optional[int] = None) -> str:
    """The header value askfirst sends for ``body`` at Unix time ``t`` (default: now)."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1={_mac(_key(secret), t, _bytes(body))}"


def verify(
    headers: Headers,
    body: Union[bytes, str],
    secret: Secrets,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Any:
    """Checks a delivery and returns its body, parsed (JSON). ``body`` must be the raw body
    exactly as received — verify before parsing. ``secret`` is the webhook secret, or a
    list of them (both, during a rotation): the delivery holds when one of its ``v1``
    signatures matches one of them (compared in constant time) and its timestamp is within
    ``tolerance`` seconds of ``now``. Raises :class:`~askfirst.WebhookError` otherwise."""
    raw = _bytes(body)
    value = _header(headers)
    t, signatures = _parse(value)
    at = time.time() if now is None else now
    if abs(at - t) > tolerance:
        raise WebhookError(
            f"the signature's timestamp is {at - t:.0f} s away from now "
            f"(tolerance {tolerance:g} s): a replay, or a clock off",
            code="timestamp",
        )
    keys = [_key(secret)] if isinstance(secret, (str, bytes)) else [_key(s) for s in secret]
    if not keys:
        raise ValueError("no webhook secret given")
    expected = [_mac(k, t, raw) for k in keys]
    matched = False
    for sig in signatures:
        for exp in expected:
            # Every comparison runs, so timing says nothing about which one matched.
            matched |= hmac.compare_digest(sig, exp)
    if not matched:
        raise WebhookError("the signature does not match the body and secret", code="mismatch")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise WebhookError(f"the signed body is not JSON: {e}", code="bad_body") from e


def verify_call(
    headers: Headers,
    body: Union[bytes, str],
    secret: Secrets,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Call:
    """:func:`verify` for an agent's callback: returns the call it reports (decided, with
    its ``checkpoint``)."""
    data = verify(headers, body, secret, tolerance=tolerance, now=now)
    try:
        return Call.model_validate(data)
    except ValidationError as e:
        raise WebhookError(f"the signed body is not a call: {e}", code="bad_body") from e


def _bytes(body: Union[bytes, str]) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _key(secret: Union[str, bytes]) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def _mac(key: bytes, t: int, body: bytes) -> str:
    return hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def _header(headers: Headers) -> str:
    items = headers.items() if isinstance(headers, Mapping) else headers
    values = [v for k, v in items if k.lower() == SIGNATURE_HEADER.lower()]
    if not values:
        raise WebhookError(f"no {SIGNATURE_HEADER} header", code="missing_header")
    return ",".join(values)


def _parse(value: str) -> tuple[int, list[str]]:
    t: Optional[int] = None
    v1: list[str] = []
    for part in value.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise WebhookError(
                f"malformed {SIGNATURE_HEADER} header: expected key=value pairs",
                code="malformed_header",
            )
        key, val = key.strip(), val.strip()
        if key == "t":
            if t is not None:
                raise WebhookError(
                    f"malformed {SIGNATURE_HEADER} header: more than one timestamp",
                    code="malformed_header",
                )
            try:
                t = int(val)
            except ValueError:
                raise WebhookError(
                    f"malformed {SIGNATURE_HEADER} header: the timestamp is not an integer",
                    code="malformed_header",
                ) from None
        elif key == "v1":
            try:
                bytes.fromhex(val)
            except ValueError:
                raise WebhookError(
                    f"malformed {SIGNATURE_HEADER} header: v1 is not hex",
                    code="malformed_header",
                ) from None
            v1.append(val.lower())
        # Other schemes (a future v2) are not ours to check.
    if t is None:
        raise WebhookError(
            f"malformed {SIGNATURE_HEADER} header: no timestamp", code="malformed_header"
        )
    if not v1:
        raise WebhookError("no v1 signature", code="missing_signature")
    return t, v1
