#!/usr/bin/env python3
"""Writes the token seeds of tests/fuzz/corpus/token and the credentials used
by the http_request seeds: HS256 tokens signed with the harnesses' secret
(tests/fuzz/auth_fixture.hpp). Run it again when the claims change."""
import base64
import hashlib
import hmac
import json
import pathlib

SECRET = b"fuzz-hs256-secret-0123456789abcdef"
FAR = 4102444800  # 2100-01-01: the harness's "now" is 2026-01-01
HERE = pathlib.Path(__file__).resolve().parent


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims: dict, header: dict | None = None, secret: bytes = SECRET) -> str:
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


SEEDS = {
    "admin": token({"sub": "ops", "exp": FAR, "role": "admin"}),
    "viewer_topics": token({"sub": "dash", "exp": FAR, "role": "viewer",
                            "topics": ["queue:q", "workflow:*"]}),
    "expired": token({"sub": "old", "exp": 1000000000}),
    "not_yet_valid": token({"sub": "early", "exp": FAR, "nbf": FAR - 10}),
    "no_exp": token({"sub": "forever"}),
    "wrong_secret": token({"sub": "x", "exp": FAR}, secret=b"another-secret-0123456789abcdefgh"),
    "alg_none": b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"x","exp":4102444800}') + ".",
    "rs256_kid": token({"sub": "x", "exp": FAR}, {"alg": "RS256", "kid": "k1"}),
    "static": "fuzz-static-token-0123456789",
}

if __name__ == "__main__":
    out = HERE / "corpus" / "token"
    out.mkdir(parents=True, exist_ok=True)
    for name, value in SEEDS.items():
        (out / name).write_text(value)
    print(json.dumps({"admin": SEEDS["admin"], "viewer": SEEDS["viewer_topics"]}))
