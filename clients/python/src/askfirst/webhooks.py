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
Secret = Union[str, bytes, bytearray, memoryview]
"""One webhook secret: text (UTF-8) or bytes."""
Secrets = Union[Secret, Sequence[Secret]]
"""One webhook secret, or a list of them (during a rotation)."""
MAX_TIMESTAMP_DIGITS = 15
"""A signature's timestamp has at most this many digits."""


def sign(secret: Secret, body: Union[bytes, str], t: Optional[int] = None) -> str:
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
    ``tolerance`` seconds of ``now``. Raises :class:`~askfirst.WebhookError` otherwise.

    A secret is a ``str`` or bytes (``bytes``, ``bytearray``, ``memoryview``: one secret,
    never a list of byte values); a list's items must each be one. An empty secret — which
    anyone can sign with — is a ``ValueError``, so is an empty list; any other kind of
    secret is a ``TypeError``."""
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
    keys = _keys(secret)
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


_ONE_SECRET = (str, bytes, bytearray, memoryview)


def _key(secret: Secret) -> bytes:
    if not isinstance(secret, _ONE_SECRET):
        raise TypeError(f"a webhook secret is a str or bytes, not {type(secret).__name__}")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("an empty webhook secret: anyone could sign with it")
    return key


def _keys(secret: Secrets) -> list[bytes]:
    """The keys to check against: ``secret`` itself, or each one of a list."""
    if isinstance(secret, _ONE_SECRET):
        return [_key(secret)]
    if isinstance(secret, Mapping) or not isinstance(secret, Iterable):
        raise TypeError(
            f"secret must be a str, bytes, or a list of them, not {type(secret).__name__}"
        )
    keys = [_key(s) for s in secret]
    if not keys:
        raise ValueError("no webhook secret given")
    return keys


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
            # Digits only (no sign, spaces or underscores int() would take), and few enough
            # to compare with the clock.
            if not (val.isascii() and val.isdigit() and len(val) <= MAX_TIMESTAMP_DIGITS):
                raise WebhookError(
                    f"malformed {SIGNATURE_HEADER} header: the timestamp is not a Unix time "
                    "in seconds",
                    code="malformed_header",
                )
            t = int(val)
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
