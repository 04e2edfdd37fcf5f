"""The load generator's fixed world: users with keys, providers with endpoints and keys, models with prices.

Everything is derived from the seed alone, so runs with the same seed talk about the same users and providers
(their entity events are the first messages of every run). Popularity is Zipf-distributed.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from usagestream.publisher.events import Message, model_pricing_id
from usagestream.publisher.tracker import RequestTracker

T = TypeVar("T")
MILLION = Decimal(1_000_000)

# (name, billing_type, api formats it serves, rate multipliers of its keys)
_PROVIDERS = (
    ("anthropic", "pay_as_you_go", ("claude:chat", "claude:cli"), ("1", "1")),
    ("openai", "pay_as_you_go", ("openai:chat", "openai:cli"), ("1", "0.9")),
    ("azure-openai", "monthly_quota", ("openai:chat",), ("0.8",)),
    ("aws-bedrock", "pay_as_you_go", ("claude:chat",), ("1.1", "1")),
    ("gemini", "pay_as_you_go", ("gemini:chat",), ("1",)),
    ("free-relay", "free_tier", ("claude:chat", "openai:chat"), ("0.5", "0.5", "0.5")),
)
# (model, api format, $/1M input, output, cache creation, cache read, $/request or None); most popular first.
_MODELS = (
    ("claude-sonnet-4-5", "claude:chat", "3", "15", "3.75", "0.3", None),
    ("gpt-5", "openai:chat", "1.25", "10", "0", "0.125", None),
    ("claude-haiku-4-5", "claude:chat", "1", "5", "1.25", "0.1", None),
    ("gpt-5-mini", "openai:chat", "0.25", "2", "0", "0.025", None),
    ("gemini-2.5-pro", "gemini:chat", "1.25", "10", "0", "0.31", None),
    ("claude-opus-4-1", "claude:chat", "15", "75", "18.75", "1.5", None),
    ("gpt-4.1", "openai:chat", "2", "8", "0", "0.5", None),
    ("gemini-2.5-flash", "gemini:chat", "0.3", "2.5", "0", "0.075", None),
    ("deepseek-chat", "openai:chat", "0.27", "1.1", "0", "0.07", None),
    ("o3", "openai:chat", "2", "8", "0", "0.5", None),
    ("gpt-image-1", "openai:chat", "5", "40", "0", "0", "0.04"),
    ("qwen3-coder", "openai:chat", "0.4", "1.6", "0", "0", None),
)


@dataclass(frozen=True, slots=True)
class ProviderKey:
    id: str
    name: str
    rate_multiplier: Decimal


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    billing_type: str
    endpoints: dict[str, str]  # api format -> endpoint id
    keys: tuple[ProviderKey, ...]


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    api_format: str
    prices: tuple[Decimal, Decimal, Decimal, Decimal]  # $/1M: input, output, cache creation, cache read
    per_token: tuple[Decimal, Decimal, Decimal, Decimal]  # the same, per token
    price_per_request: Decimal | None
    providers: tuple[Provider, ...]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str
    api_key_ids: tuple[str, ...]


class Zipf:
    """Picks items with probability proportional to 1 / rank**s (the first item is the most popular)."""

    def __init__(self, items: Sequence[T], s: float = 1.1) -> None:
        self.items = list(items)
        total, self._cum = 0.0, []
        for rank in range(1, len(self.items) + 1):
            total += rank**-s
            self._cum.append(total)
        self._total = total

    def pick(self, rng: random.Random) -> Any:
        index = bisect.bisect_left(self._cum, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]


def new_uuid(rng: random.Random) -> str:
    """A UUID4-shaped id drawn from `rng` (deterministic, unlike uuid.uuid4)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Population:
    users: tuple[User, ...]
    providers: tuple[Provider, ...]
    models: tuple[Model, ...]
    user_zipf: Zipf
    model_zipf: Zipf


def build(seed: int, users: int = 200) -> Population:
    """The world of seed `seed` with `users` users (each with one or two API keys)."""
    rng = random.Random(f"population:{seed}")  # noqa: S311 - reproducible test data, not secrets
    providers = tuple(_provider(rng, *spec) for spec in _PROVIDERS)
    models = tuple(_model(spec, providers) for spec in _MODELS)
    people = tuple(_user(rng, i) for i in range(users))
    return Population(people, providers, models, Zipf(people), Zipf(models))


def _provider(
    rng: random.Random, name: str, billing: str, formats: tuple[str, ...], rates: tuple[str, ...]
) -> Provider:
    endpoints = {fmt: new_uuid(rng) for fmt in formats}
    keys = tuple(ProviderKey(new_uuid(rng), f"{name}-key-{i + 1}", Decimal(rate)) for i, rate in enumerate(rates))
    return Provider(new_uuid(rng), name, billing, endpoints, keys)


def _model(spec: tuple[str, str, str, str, str, str, str | None], providers: tuple[Provider, ...]) -> Model:
    name, fmt, pin, pout, pcc, pcr, per_request = spec
    prices = (Decimal(pin), Decimal(pout), Decimal(pcc), Decimal(pcr))
    served = tuple(p for p in providers if fmt in p.endpoints)
    per_token = (prices[0] / MILLION, prices[1] / MILLION, prices[2] / MILLION, prices[3] / MILLION)
    return Model(name, fmt, prices, per_token, Decimal(per_request) if per_request else None, served)


def _user(rng: random.Random, index: int) -> User:
    keys = tuple(new_uuid(rng) for _ in range(1 + (index % 3 == 0)))
    return User(new_uuid(rng), f"user{index:04d}", f"user{index:04d}@example.com", keys)


def entity_messages(pop: Population, tracker: RequestTracker, admin_token: str | None = None) -> list[Message]:
    """Every entity of the world as upserts (users, keys, providers, endpoints, provider keys, prices)."""
    out = [tracker.entity_upserted("user", u.id, user_data(u)) for u in pop.users]
    for user in pop.users:
        for i, key_id in enumerate(user.api_key_ids):
            data = {"user_id": user.id, "name": f"{user.username}-key{i + 1}", "display": _display(key_id)}
            out.append(tracker.entity_upserted("api_key", key_id, data))
    for p in pop.providers:
        out.append(tracker.entity_upserted("provider", p.id, {"name": p.name, "billing_type": p.billing_type}))
        for fmt, endpoint_id in p.endpoints.items():
            data = {"provider_id": p.id, "api_format": fmt}
            out.append(tracker.entity_upserted("provider_endpoint", endpoint_id, data))
        for key in p.keys:
            out.append(tracker.entity_upserted("provider_api_key", key.id, {"provider_id": p.id, "name": key.name}))
    out.extend(_pricing_messages(pop, tracker))
    if admin_token:
        out.extend(admin_messages(tracker, admin_token))
    return out


def user_data(user: User, username: str | None = None) -> dict[str, Any]:
    return {
        "username": username or user.username,
        "email": user.email,
        "role": "user",
        "is_active": True,
        "is_deleted": False,
        "quota_usd": None,
        "used_usd": 0,
    }


def _display(key_id: str) -> str:
    plain = key_id.replace("-", "")
    return f"sk-{plain[:7]}...{plain[-4:]}"


def _tiers(model: Model) -> dict[str, Any]:
    pin, pout, pcc, pcr = model.prices
    tier = {"up_to": None, "input_price_per_1m": pin, "output_price_per_1m": pout}
    tier |= {"cache_creation_price_per_1m": pcc, "cache_read_price_per_1m": pcr}
    return {"tiers": [tier]}


def _pricing_messages(pop: Population, tracker: RequestTracker) -> list[Message]:
    out = []
    for m in pop.models:
        out.append(
            tracker.entity_upserted("global_model_pricing", m.name, {"model": m.name, "tiered_pricing": _tiers(m)})
        )
        for p in m.providers:
            data = {"provider_id": p.id, "model": m.name, "tiered_pricing": _tiers(m)}
            out.append(tracker.entity_upserted("model_pricing", model_pricing_id(p.id, m.name), data))
    return out


def admin_messages(tracker: RequestTracker, token: str) -> list[Message]:
    """An admin user and a management token whose plain text is `token` (for a demo; opt-in only)."""
    admin_id = "00000000-0000-4000-a000-00000000ad01"
    user: dict[str, Any] = {
        "username": "loadgen-admin",
        "email": None,
        "role": "admin",
        "is_active": True,
        "is_deleted": False,
    }
    user |= {"quota_usd": None, "used_usd": 0}
    digest = hashlib.sha256(token.encode()).hexdigest()
    token_data: dict[str, Any] = {"token_sha256": digest, "user_id": admin_id, "is_active": True}
    token_data |= {"expires_at": None, "allowed_ips": None}
    return [
        tracker.entity_upserted("user", admin_id, user),
        tracker.entity_upserted("management_token", digest[:32], token_data),
    ]
