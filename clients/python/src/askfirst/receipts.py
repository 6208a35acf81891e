"""Signed approval receipts: what a tool server checks, without trusting the agent, before
it runs a call askfirst let through.

A receipt is a compact JWS signed by the askfirst server with Ed25519 (``alg`` ``EdDSA``,
``typ`` ``askfirst-receipt+jwt``, ``kid`` naming the key); the keys are published at
``/.well-known/jwks.json``. :func:`verify_receipt` checks the signature under a published
key, the header, ``aud`` and ``tool`` against the tool about to run, ``nbf`` and ``exp``
against the clock (30 s leeway), and ``args_sha256`` — the hex SHA-256 of the RFC 8785
canonical JSON of the arguments — against the arguments about to be used (arguments
holding an integer beyond ±(2**53 - 1), which that hash cannot tell from its neighbours,
are refused: ``unsafe_integer``).
"""

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional, Union

import httpx
import jwt
import rfc8785
from pydantic import ValidationError

from .errors import ReceiptError
from .models import ReceiptClaims

TYPE = "askfirst-receipt+jwt"
"""The JWS ``typ`` of a receipt."""
LEEWAY_SECS = 30
"""Seconds of clock difference tolerated on ``nbf`` and ``exp``."""
REFETCH_AFTER = 10.0
"""The soonest the keys are fetched again for a receipt naming an unknown key."""
KEYS_MAX_AGE = 300.0
"""Seconds fetched keys are trusted before they are fetched again (the JWKS's
``max-age``): a key askfirst stopped publishing stops verifying within this."""
MAX_JWKS_BYTES = 1 << 20
"""The largest JWKS read (1 MiB)."""
MAX_REMEMBERED = 1_000_000
"""The most receipts :meth:`ReceiptVerifier.verify_once` remembers at once; past it,
receipts are refused (``too_many_remembered``) until some expire."""
MAX_SAFE_INTEGER = (1 << 53) - 1
"""The largest integer every JSON reader holds exactly (2**53 - 1)."""

Jwks = Union[Mapping[str, Any], str, bytes]
"""A JWKS document: parsed, or as JSON text."""


def has_unsafe_integer(value: Any) -> bool:
    """Whether ``value`` holds an integral number beyond ±(2**53 - 1) — an ``int``, or a
    ``float`` with no fractional part (``1e21`` too; booleans are no numbers here). RFC
    8785 writes numbers as IEEE 754 doubles, so such a number hashes the same as its
    neighbours: a receipt cannot bind it."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_SAFE_INTEGER
    if isinstance(value, float):
        return value.is_integer() and abs(value) > MAX_SAFE_INTEGER
    if isinstance(value, Mapping):
        return any(has_unsafe_integer(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unsafe_integer(v) for v in value)
    return False


def args_sha256(args: Any) -> str:
    """The hex SHA-256 of ``args`` in RFC 8785 canonical form: what ``args_sha256`` holds.
    Raises :class:`ReceiptError`: ``unsafe_integer`` for arguments holding an integer
    beyond ±(2**53 - 1), which a receipt cannot bind (as askfirst's own verifier does: send
    such values as strings); ``wrong_args`` for values RFC 8785 cannot represent (NaN)."""
    if has_unsafe_integer(args):
        raise ReceiptError(
            "the arguments hold an integer beyond ±(2**53 - 1), which a receipt cannot bind; "
            "send it as a string",
            code="unsafe_integer",
        )
    try:
        return hashlib.sha256(rfc8785.dumps(args)).hexdigest()
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise ReceiptError(
            f"the arguments have no RFC 8785 form, so they cannot match a receipt: {e}",
            code="wrong_args",
        ) from e


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a receipt, **unverified**: for the party holding it (the agent, to
    name its ``jti``), never for deciding whether a call may run."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as e:
        raise ReceiptError(f"not a receipt: {e}", code="malformed") from e
    if not isinstance(claims, dict):
        raise ReceiptError("not a receipt: the payload is not an object", code="malformed")
    return claims


def _load_jwks(jwks: Jwks) -> dict[str, jwt.PyJWK]:
    try:
        doc = json.loads(jwks) if isinstance(jwks, (str, bytes)) else dict(jwks)
    except ValueError as e:
        raise ReceiptError(f"the JWKS is not JSON: {e}", code="keys_unavailable") from e
    keys: dict[str, jwt.PyJWK] = {}
    for entry in doc.get("keys") or []:
        if not isinstance(entry, Mapping) or not entry.get("kid"):
            continue
        try:
            keys[str(entry["kid"])] = jwt.PyJWK.from_dict(dict(entry))
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            continue  # a key of a kind this verifier cannot use
    return keys


def _header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise ReceiptError("not a receipt: not a compact JWS", code="malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise ReceiptError(f"not a receipt: {e}", code="malformed") from e
    if header.get("typ") != TYPE:
        raise ReceiptError(
            f"not a receipt: typ {header.get('typ')!r}, expected {TYPE!r}", code="malformed"
        )
    if header.get("alg") != "EdDSA":
        raise ReceiptError(
            f"not a receipt: alg {header.get('alg')!r}, expected 'EdDSA'", code="malformed"
        )
    return header


def _decode(token: str, key: jwt.PyJWK) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            options={
                # Time, audience and issuer are checked below, against the call about to run.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": ["exp", "nbf", "aud", "iss", "sub", "jti"],
            },
        )
    except jwt.InvalidSignatureError as e:
        raise ReceiptError("the signature does not verify", code="bad_signature") from e
    except jwt.InvalidTokenError as e:
        raise ReceiptError(f"not a receipt: {e}", code="malformed") from e
    return claims


def check_claims(
    raw: Mapping[str, Any],
    *,
    tool: str,
    args: Any,
    now: Optional[float] = None,
    leeway: float = LEEWAY_SECS,
    issuer: Optional[str] = None,
) -> ReceiptClaims:
    """Checks signature-verified claims against the call about to run — ``tool`` with
    ``args`` — at ``now`` (Unix seconds; default: the clock)."""
    try:
        claims = ReceiptClaims.model_validate(dict(raw))
    except ValidationError as e:
        raise ReceiptError(f"not a receipt: {e}", code="malformed") from e
    at = time.time() if now is None else now
    if claims.exp + leeway < at:
        raise ReceiptError("the receipt has expired", code="expired")
    if claims.nbf - leeway > at:
        raise ReceiptError("the receipt is not valid yet", code="not_yet_valid")
    for named in (claims.aud, claims.tool):
        if named != tool:
            raise ReceiptError(
                f"the receipt is for tool `{named}`, not `{tool}`", code="wrong_tool"
            )
    if issuer is not None and claims.iss.rstrip("/") != issuer.rstrip("/"):
        raise ReceiptError(
            f"the receipt was issued by {claims.iss}, not {issuer}", code="wrong_issuer"
        )
    if claims.args_sha256 != args_sha256(args):
        raise ReceiptError("the arguments differ from the ones approved", code="wrong_args")
    return claims


class ReceiptVerifier:
    """Checks receipts against the keys an askfirst server publishes. Keys are fetched at
    the first receipt, again once they are five minutes old (so a key askfirst withdrew
    stops verifying; keys that cannot be fetched then refuse receipts,
    ``keys_unavailable``), and again when a receipt names a key not yet seen (after a
    rotation; at most once every 10 s). At most 1 MiB of JWKS is read.
    :meth:`verify_once` also refuses a receipt it accepted before, until it expires (it
    remembers at most 1,000,000 at once: past that, ``too_many_remembered``). Thread-safe;
    share one per process.

    ``ReceiptVerifier(base_url="https://askfirst.example.com")`` or
    ``ReceiptVerifier(jwks_url=…)``, or ``ReceiptVerifier(jwks={...})`` for fixed keys.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        *,
        jwks_url: Optional[str] = None,
        jwks: Optional[Jwks] = None,
        leeway: float = LEEWAY_SECS,
        issuer: Optional[str] = None,
        timeout: float = 10.0,
    ) -> None:
        self.leeway = leeway
        self.issuer = issuer
        self.timeout = timeout
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: Optional[float] = None
        self._used: dict[str, int] = {}
        if jwks is not None:
            self.jwks_url: Optional[str] = None
            self._keys = _load_jwks(jwks)
            return
        if jwks_url is None:
            url = base_url or os.environ.get("ASKFIRST_URL")
            if not url:
                raise ValueError("pass jwks=, jwks_url= or base_url= (or set ASKFIRST_URL)")
            jwks_url = url.rstrip("/") + "/.well-known/jwks.json"
        self.jwks_url = jwks_url

    # -- keys

    def _stale(self) -> bool:
        """Whether the keys must be fetched (again) before any receipt is checked."""
        with self._lock:
            if self.jwks_url is None:
                return False
            return self._fetched_at is None or time.monotonic() - self._fetched_at >= KEYS_MAX_AGE

    def _key_for(self, kid: Optional[str]) -> tuple[Optional[jwt.PyJWK], bool]:
        """The key named ``kid`` if known; and whether fetching the keys again may help."""
        with self._lock:
            key = self._keys.get(kid) if kid else None
            if key is not None or self.jwks_url is None:
                return key, False
            stale = self._fetched_at is None or time.monotonic() - self._fetched_at >= REFETCH_AFTER
            return None, stale

    def _store(self, body: bytes) -> None:
        keys = _load_jwks(body)
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()

    def _unavailable(self, why: object) -> ReceiptError:
        return ReceiptError(
            f"askfirst's keys could not be fetched from {self.jwks_url}: {why}",
            code="keys_unavailable",
        )

    def _fetch(self) -> None:
        assert self.jwks_url is not None
        try:
            with httpx.stream(
                "GET", self.jwks_url, timeout=self.timeout, follow_redirects=False
            ) as resp:
                self._check_status(resp)
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise self._unavailable("more than 1 MiB")
        except httpx.HTTPError as e:
            raise self._unavailable(e) from e
        self._store(bytes(body))

    async def _afetch(self) -> None:
        assert self.jwks_url is not None
        try:
            async with (
                httpx.AsyncClient(timeout=self.timeout) as http,
                http.stream("GET", self.jwks_url) as resp,
            ):
                self._check_status(resp)
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise self._unavailable("more than 1 MiB")
        except httpx.HTTPError as e:
            raise self._unavailable(e) from e
        self._store(bytes(body))

    def _check_status(self, resp: httpx.Response) -> None:
        if resp.status_code != 200:
            raise self._unavailable(f"HTTP {resp.status_code}")
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_JWKS_BYTES:
            raise self._unavailable("more than 1 MiB")

    @staticmethod
    def _unknown(kid: Optional[str]) -> ReceiptError:
        return ReceiptError(
            f"signed with a key askfirst does not publish (kid {kid!r})", code="unknown_key"
        )

    # -- verification

    def verify(self, token: str, *, tool: str, args: Any) -> ReceiptClaims:
        """The receipt's claims if ``tool`` may run with ``args`` now; raises
        :class:`~askfirst.ReceiptError` otherwise."""
        kid = _header(token).get("kid")
        if self._stale():
            self._fetch()
        key, refetch = self._key_for(kid)
        if key is None and refetch:
            self._fetch()
            key, _ = self._key_for(kid)
        if key is None:
            raise self._unknown(kid)
        return self._check(token, key, tool, args)

    async def averify(self, token: str, *, tool: str, args: Any) -> ReceiptClaims:
        """:meth:`verify`, fetching the keys without blocking the event loop."""
        kid = _header(token).get("kid")
        if self._stale():
            await self._afetch()
        key, refetch = self._key_for(kid)
        if key is None and refetch:
            await self._afetch()
            key, _ = self._key_for(kid)
        if key is None:
            raise self._unknown(kid)
        return self._check(token, key, tool, args)

    def verify_once(self, token: str, *, tool: str, args: Any) -> ReceiptClaims:
        """:meth:`verify`, and each receipt only once: its ``jti`` is remembered until it
        expires, and a second use is refused (``replayed``)."""
        return self._remember(self.verify(token, tool=tool, args=args))

    async def averify_once(self, token: str, *, tool: str, args: Any) -> ReceiptClaims:
        """:meth:`verify_once` without blocking the event loop."""
        return self._remember(await self.averify(token, tool=tool, args=args))

    def _check(self, token: str, key: jwt.PyJWK, tool: str, args: Any) -> ReceiptClaims:
        return check_claims(
            _decode(token, key), tool=tool, args=args, leeway=self.leeway, issuer=self.issuer
        )

    def _remember(self, claims: ReceiptClaims) -> ReceiptClaims:
        now = time.time()
        with self._lock:
            for jti in [j for j, exp in self._used.items() if exp + self.leeway < now]:
                del self._used[jti]
            if claims.jti in self._used:
                raise ReceiptError(
                    f"the receipt was used already (jti {claims.jti})", code="replayed"
                )
            if len(self._used) >= MAX_REMEMBERED:
                raise ReceiptError(
                    "too many receipts are remembered; try again when some have expired",
                    code="too_many_remembered",
                )
            self._used[claims.jti] = claims.exp
        return claims


_verifiers: dict[str, ReceiptVerifier] = {}
_verifiers_lock = threading.Lock()


def _verifier(jwks: Optional[Jwks], base_url: Optional[str]) -> ReceiptVerifier:
    if jwks is not None:
        return ReceiptVerifier(jwks=jwks)
    url = base_url or os.environ.get("ASKFIRST_URL")
    if not url:
        raise ValueError("pass jwks= or base_url= (or set ASKFIRST_URL)")
    url = url.rstrip("/")
    with _verifiers_lock:
        verifier = _verifiers.get(url)
        if verifier is None:
            verifier = _verifiers[url] = ReceiptVerifier(url)
        return verifier


def verify_receipt(
    token: str,
    *,
    tool: str,
    args: Any,
    jwks: Optional[Jwks] = None,
    base_url: Optional[str] = None,
) -> ReceiptClaims:
    """Checks an askfirst receipt for a call of ``tool`` with ``args`` about to run; returns
    its claims, or raises :class:`~askfirst.ReceiptError` (with ``code``) when it does not
    hold. Give the keys as ``jwks`` (the JWKS document), or the server as ``base_url``
    (default ``ASKFIRST_URL``): its keys are fetched, cached per server, and fetched again
    once five minutes old or when a receipt names a new key. A tool server that must not
    run one approval twice keeps a :class:`ReceiptVerifier` and calls ``verify_once``."""
    return _verifier(jwks, base_url).verify(token, tool=tool, args=args)


async def averify_receipt(
    token: str,
    *,
    tool: str,
    args: Any,
    jwks: Optional[Jwks] = None,
    base_url: Optional[str] = None,
) -> ReceiptClaims:
    """:func:`verify_receipt` for async code: fetching the keys does not block the loop."""
    return await _verifier(jwks, base_url).averify(token, tool=tool, args=args)
