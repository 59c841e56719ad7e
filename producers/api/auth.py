"""Users and tokens: register, login, refresh (rotating), logout; the `current_user` dependency.

Redis keeps what must be revocable: live refresh tokens (`etude:refresh:<jti>` → user id, with
the token's TTL; a refresh deletes it and issues a new one, so a stolen, already-used refresh
token is dead) and logged-out access tokens (`etude:revoked:<jti>` until they would expire).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ledger.users import User
from producers.api import tokens
from producers.api.services import Services

router = APIRouter(prefix="/auth", tags=["auth"])
_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login.")
# Compared against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = tokens.hash_password("not-a-real-password", rounds=4)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=tokens.MAX_PASSWORD_BYTES)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")


class RefreshIn(BaseModel):
    refresh_token: str


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _refresh_key(jti: str) -> str:
    return f"etude:refresh:{jti}"


def _revoked_key(jti: str) -> str:
    return f"etude:revoked:{jti}"


async def _issue_pair(services: Services, user_id: uuid.UUID) -> TokenPair:
    s = services.settings
    secret = s.jwt_secret.get_secret_value()
    access, _ = tokens.issue(secret, user_id, "access", s.jwt_access_ttl_s)
    refresh, claims = tokens.issue(secret, user_id, "refresh", s.jwt_refresh_ttl_s)
    await services.redis.set(_refresh_key(claims.jti), str(user_id), ex=claims.ttl())
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=s.jwt_access_ttl_s)


async def access_claims(
    services: ServicesDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tokens.Claims:
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorized("not authenticated")
    try:
        claims = tokens.decode(
            services.settings.jwt_secret.get_secret_value(), creds.credentials, "access"
        )
    except tokens.TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    if await services.redis.exists(_revoked_key(claims.jti)):
        raise _unauthorized("token revoked")
    return claims


async def current_user(claims: Annotated[tokens.Claims, Depends(access_claims)]) -> uuid.UUID:
    return claims.user_id


CurrentUser = Annotated[uuid.UUID, Depends(current_user)]


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: Credentials, services: ServicesDep) -> UserOut:
    email = body.email.strip().lower()
    hashed = await asyncio.to_thread(
        tokens.hash_password, body.password, services.settings.bcrypt_rounds
    )
    user = User(id=uuid.uuid4(), email=email, password_hash=hashed)
    async with services.sessions() as session:
        session.add(user)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, "email already registered") from exc
    return UserOut(id=user.id, email=email)


@router.post("/login", response_model=TokenPair)
async def login(body: Credentials, services: ServicesDep) -> TokenPair:
    email = body.email.strip().lower()
    async with services.sessions() as session:
        user = await session.scalar(select(User).where(func.lower(User.email) == email))
    hashed = user.password_hash if user else _DUMMY_HASH
    ok = await asyncio.to_thread(tokens.verify_password, body.password, hashed)
    if user is None or not ok:
        raise _unauthorized("wrong email or password")
    return await _issue_pair(services, user.id)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshIn, services: ServicesDep) -> TokenPair:
    try:
        claims = tokens.decode(
            services.settings.jwt_secret.get_secret_value(), body.refresh_token, "refresh"
        )
    except tokens.TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    # GETDEL: of two concurrent refreshes with one token, exactly one wins (rotation).
    owner = await services.redis.getdel(_refresh_key(claims.jti))
    if owner is None:
        raise _unauthorized("refresh token revoked or already used")
    return await _issue_pair(services, claims.user_id)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    services: ServicesDep,
    claims: Annotated[tokens.Claims, Depends(access_claims)],
    body: RefreshIn | None = None,
) -> None:
    """Revoke this access token and, when given, the refresh token that goes with it."""
    await services.redis.set(_revoked_key(claims.jti), "1", ex=claims.ttl())
    if body is not None:
        try:
            refresh_claims = tokens.decode(
                services.settings.jwt_secret.get_secret_value(), body.refresh_token, "refresh"
            )
        except tokens.TokenError:
            return
        if refresh_claims.user_id == claims.user_id:
            await services.redis.delete(_refresh_key(refresh_claims.jti))


@router.get("/me", response_model=UserOut)
async def me(user_id: CurrentUser, services: ServicesDep) -> Any:
    async with services.sessions() as session:
        user = await session.get(User, user_id)
    if user is None:  # deleted since the token was issued
        raise _unauthorized("no such user")
    return UserOut(id=user.id, email=user.email)
