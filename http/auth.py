"""Who is calling: HS256 access JWTs and `ae_` management tokens (docs/contract.md §7.3), checked per request.

Decisions where the reference leaves room:
- A missing, malformed, expired or unknown token is 401; a token whose user no longer exists is 401 as well.
- A user who is inactive or deleted is 403 (as the reference), and so is a management token used from an IP
  address outside its `allowed_ips` (entries may be addresses or CIDR networks; the TCP peer address is used,
  X-Forwarded-For is not trusted).
- Admin paths need the user entity's *current* role `admin`; a JWT must in addition carry the claim
  `role: "admin"`, so neither a demoted admin nor a token minted before a promotion gets in.
- Authentication runs before parameter validation, so an anonymous caller learns nothing from 422s.
- A websocket feed is authenticated at the upgrade and then kept to the same checks (`check_user`,
  `check_management_token`) while it stays open: http/feed/guard.py closes it once they would refuse it.
Tokens are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web
from jwt.warnings import InsecureKeyLengthWarning

from usagestream.http.errors import http_error
from usagestream.http.keys import SETTINGS, STORE
from usagestream.http.params import parse_datetime

MISSING_ADMIN = "缺少管理员凭证"
MISSING_USER = "缺少用户凭证"
NOT_ADMIN = "需要管理员权限"
INVALID_TOKEN = "无效的Token"  # noqa: S105 (a message, not a secret)
EXPIRED_TOKEN = "Token已过期"  # noqa: S105
UNKNOWN_USER = "用户不存在"
DISABLED_USER = "用户已被禁用或删除"
IP_NOT_ALLOWED = "IP 地址不在管理令牌的允许列表中"
MANAGEMENT_PREFIX = "ae_"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the user entity's id and current role, how they proved it, and what the
    credential itself says (kept so that an open websocket feed can be checked again, http/feed/guard.py)."""

    user_id: str
    role: str
    via: str  # "jwt" or "management_token"
    claimed_role: str | None = None  # the JWT's `role` claim; None for a management token
    expires_at: float | None = None  # POSIX seconds: the JWT's `exp` or the token's `expires_at`; None = never
    token_sha256: str | None = field(default=None, repr=False)  # the management token's digest, else None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def token_of(request: web.Request, *, allow_query: bool) -> str | None:
    """The bearer token of the Authorization header, else (websockets) the `access_token` query parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        values = request.query.getall("access_token", [])
        if values and values[-1].strip():
            return values[-1].strip()
    return None


async def authenticate(request: web.Request, *, admin: bool, allow_query: bool = False) -> Principal:
    """The caller, or ApiError 401/403 as the module docstring says."""
    token = token_of(request, allow_query=allow_query)
    if token is None:
        raise http_error(401, MISSING_ADMIN if admin else MISSING_USER)
    store = request.app[STORE]
    digest: str | None = None
    if token.startswith(MANAGEMENT_PREFIX):
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        record = await store.management_token(digest)
        user_id = check_management_token(record, request.remote)
        claimed_role, expires_at = None, expiry_of((record or {}).get("expires_at"))
    else:
        claims = _jwt_claims(token, request.app[SETTINGS].jwt_secret)
        user_id, claimed_role, expires_at = claims["user_id"], claims["role"], claims["exp"]
    role = check_user(await store.user_by_id(user_id), admin=admin, claimed_role=claimed_role)
    via = "jwt" if digest is None else "management_token"
    return Principal(user_id, role, via, claimed_role, expires_at, digest)


def check_user(user: dict[str, Any] | None, *, admin: bool, claimed_role: str | None) -> str:
    """The user entity's current role if it may use the API (admin paths: an admin), else ApiError 401/403."""
    if user is None:
        raise http_error(401, UNKNOWN_USER)
    if not user.get("is_active") or user.get("is_deleted"):
        raise http_error(403, DISABLED_USER)
    role = str(user.get("role") or "")
    if admin and not (role == "admin" and claimed_role in (None, "admin")):
        raise http_error(403, NOT_ADMIN)
    return role


def check_management_token(record: dict[str, Any] | None, remote: str | None) -> str:
    """The user id of a live, active, unexpired management token entity usable from `remote`, else ApiError."""
    if record is None or not record.get("is_active") or _expired(record.get("expires_at")):
        raise http_error(401, INVALID_TOKEN)
    allowed = record.get("allowed_ips")
    if isinstance(allowed, list) and not _ip_allowed(remote, allowed):
        raise http_error(403, IP_NOT_ALLOWED)
    user_id = record.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise http_error(401, INVALID_TOKEN)
    return user_id


def _jwt_claims(token: str, secret: str) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # a short key is the gateway's choice; create_app warns once
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims: dict[str, Any] = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "user_id", "type"]}
            )
    except jwt.ExpiredSignatureError:
        raise http_error(401, EXPIRED_TOKEN) from None
    except (jwt.InvalidTokenError, ValueError):  # ValueError: undecodable bytes in the header
        raise http_error(401, INVALID_TOKEN) from None
    user_id, role = claims.get("user_id"), claims.get("role")
    if claims.get("type") != "access" or not isinstance(role, str):
        raise http_error(401, INVALID_TOKEN)
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id or "\x00" in user_id:
        raise http_error(401, INVALID_TOKEN)
    return {"user_id": user_id, "role": role, "exp": _posix(claims["exp"])}


def _posix(exp: object) -> float:
    """The `exp` claim (a number, checked by pyjwt) as float seconds; beyond a float's range is never."""
    try:
        return float(exp)  # type: ignore[arg-type]
    except OverflowError:
        return float("inf")


def expiry_of(expires_at: object) -> float | None:
    """A stored expiry as POSIX seconds; None = never; an unreadable one is already past (fail closed)."""
    if expires_at is None:
        return None
    when = expires_at if isinstance(expires_at, datetime) else parse_datetime(str(expires_at))
    if when is None:
        return float("-inf")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _expired(expires_at: object) -> bool:
    when = expiry_of(expires_at)
    return when is not None and when <= time.time()


def _ip_allowed(remote: str | None, allowed: list[object]) -> bool:
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(str(entry).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False
