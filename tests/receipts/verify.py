"""Checks askfirst's approval receipts the way a tool server in Python would, with PyJWT and
rfc8785 and no askfirst code. Reads one JSON object from standard input, prints one to
standard output.

    {"mode": "verify", "jwks": {...}, "token": "...", "tool": "deploy",
     "args_json": "<the arguments as JSON text>", "issuer": "http://...",
     "leeway": 30, "now": 1767258000}
      -> {"ok": true, "claims": {...}}
       | {"ok": false, "error": "<kind>: <message>"}
    kind: bad_signature, expired, not_yet_valid, wrong_audience, wrong_issuer, wrong_args,
    unknown_kid, wrong_type or malformed. Optional: `issuer` (unchecked without it),
    `leeway` (seconds, 30 by default: the SDK's LEEWAY_SECS) and `now` (Unix seconds, for a
    server on a test clock: PyJWT checks `exp`, `nbf` and `iat` against the real clock, so
    with `now` this script checks `exp` and `nbf` against it instead, with the same leeway).

    {"mode": "canon", "values": ["<JSON text>", ...]}
      -> {"canonical": [...], "sha256": [...], "errors": [...]}
    each value's RFC 8785 form (UTF-8 text) and its hex SHA-256, or null in both and the
    reason in `errors` where rfc8785 refuses it (an integer beyond ±(2**53 - 1), say);
    `errors` holds null for the values it took.
"""

import hashlib
import json
import sys

import jwt
import rfc8785

TYPE = "askfirst-receipt+jwt"
LEEWAY_SECS = 30
REQUIRED = ["exp", "iat", "nbf", "aud", "iss", "sub", "jti"]

# Most specific first: several of these subclass DecodeError or InvalidTokenError.
ERROR_KINDS = [
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.PyJWKError, "unknown_kid"),
    (jwt.InvalidKeyError, "unknown_kid"),
    (jwt.InvalidTokenError, "malformed"),
]


class Refused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")


def args_sha256(args_json: str) -> str:
    return hashlib.sha256(rfc8785.dumps(json.loads(args_json))).hexdigest()


def verify(req: dict) -> dict:
    token, tool = req["token"], req["tool"]
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise Refused("malformed", str(e)) from e
    if header.get("typ") != TYPE:
        raise Refused("wrong_type", f"typ {header.get('typ')!r}, expected {TYPE!r}")
    if header.get("alg") != "EdDSA":
        raise Refused("malformed", f"alg {header.get('alg')!r}, expected 'EdDSA'")
    kid = header.get("kid")
    try:
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(req["jwks"]).keys}
    except jwt.PyJWKSetError as e:
        raise Refused("unknown_kid", f"no usable key in the JWKS: {e}") from e
    if kid is None or kid not in keys:
        raise Refused("unknown_kid", f"no key with kid {kid!r}")
    leeway, now = req.get("leeway", LEEWAY_SECS), req.get("now")
    options = {"require": REQUIRED}
    if now is not None:
        options.update(verify_exp=False, verify_nbf=False, verify_iat=False)
    try:
        claims = jwt.decode(
            token,
            keys[kid],
            algorithms=["EdDSA"],
            audience=tool,
            issuer=req.get("issuer"),
            leeway=leeway,
            options=options,
        )
    except jwt.InvalidTokenError as e:
        kind = next(kind for cls, kind in ERROR_KINDS if isinstance(e, cls))
        raise Refused(kind, f"{type(e).__name__}: {e}") from e
    if now is not None:
        if claims["exp"] + leeway < now:
            raise Refused("expired", f"exp {claims['exp']}, now {now}")
        if claims["nbf"] - leeway > now:
            raise Refused("not_yet_valid", f"nbf {claims['nbf']}, now {now}")
    if claims.get("tool") != tool:
        raise Refused("wrong_audience", f"tool {claims.get('tool')!r}, expected {tool!r}")
    try:
        want = args_sha256(req["args_json"])
    except (ValueError, rfc8785.CanonicalizationError) as e:
        raise Refused("wrong_args", f"the arguments have no RFC 8785 form: {e}") from e
    if claims.get("args_sha256") != want:
        raise Refused(
            "wrong_args",
            f"args_sha256 {claims.get('args_sha256')!r}, the arguments hash to {want!r}",
        )
    return {"ok": True, "claims": claims}


def canon(req: dict) -> dict:
    out = {"canonical": [], "sha256": [], "errors": []}
    for text in req["values"]:
        try:
            canonical = rfc8785.dumps(json.loads(text))
        except (ValueError, rfc8785.CanonicalizationError) as e:
            out["canonical"].append(None)
            out["sha256"].append(None)
            out["errors"].append(f"{type(e).__name__}: {e}")
            continue
        out["canonical"].append(canonical.decode("utf-8"))
        out["sha256"].append(hashlib.sha256(canonical).hexdigest())
        out["errors"].append(None)
    return out


def main() -> int:
    req = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if req.get("mode") == "verify":
        try:
            out = verify(req)
        except Refused as e:
            out = {"ok": False, "error": str(e)}
    elif req.get("mode") == "canon":
        out = canon(req)
    else:
        print(f"unknown mode {req.get('mode')!r}", file=sys.stderr)
        return 2
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
