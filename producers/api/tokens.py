"""Passwords (bcrypt) and JWTs (HS256): pure functions, no I/O.

Access tokens are short-lived and checked by signature, expiry and type, plus a Redis
deny-list for logged-out ones (auth.py). Refresh tokens are JWTs too, but a refresh is only
honoured while its `jti` is live in Redis, which is what makes rotation and logout stick.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import bcrypt
import jwt

ALGORITHM = "HS256"
ISSUER = "etude"
TokenType = Literal["access", "refresh"]
# bcrypt only reads the first 72 bytes of a password; longer ones are refused, not cut.
MAX_PASSWORD_BYTES = 72


class TokenError(ValueError):
    """The token is missing, malformed, tampered with, expired or of the wrong type."""


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    jti: str
    type: TokenType
    expires_at: int  # unix seconds

    def ttl(self, now: float | None = None) -> int:
        return max(1, int(self.expires_at - (now if now is not None else time.time())))


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # a malformed stored hash is a failed login, not a crash
        return False


def issue(
    secret: str, user_id: uuid.UUID, type_: TokenType, ttl_s: int, now: float | None = None
) -> tuple[str, Claims]:
    issued = int(now if now is not None else time.time())
    claims = Claims(user_id=user_id, jti=uuid.uuid4().hex, type=type_, expires_at=issued + ttl_s)
    payload = {
        "sub": str(user_id),
        "jti": claims.jti,
        "typ": type_,
        "iss": ISSUER,
        "iat": issued,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode(secret: str, token: str, expected: TokenType) -> Claims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never taken from the token's header ("alg": "none")
            issuer=ISSUER,
            options={"require": ["sub", "jti", "exp", "iat", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    if payload.get("typ") != expected:
        raise TokenError(f"not an {expected} token")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except ValueError as exc:
        raise TokenError("invalid token subject") from exc
    return Claims(
        user_id=user_id, jti=str(payload["jti"]), type=expected, expires_at=payload["exp"]
    )
