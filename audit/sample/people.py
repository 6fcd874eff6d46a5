"""Customers and their services: German names, contract levels, products."""

from __future__ import annotations

import random
from dataclasses import dataclass

from audit.sample import vocab
from audit.sample.draw import Weights

_N_SERVICES = Weights.of({1: 55, 2: 30, 3: 15})
_PRODUCTS = Weights.of(vocab.PRODUCT_WEIGHTS)
_CONTRACTS = Weights.of(vocab.CONTRACT_WEIGHTS)


@dataclass(frozen=True, slots=True)
class Service:
    service_id: str
    product: str
    managed: bool


@dataclass(slots=True)
class Customer:
    customer_id: str
    name: str
    contract: str
    services: list[Service]

    def services_of(self, products: tuple[str, ...]) -> list[Service]:
        return [s for s in self.services if s.product in products]


def customer_name(rng: random.Random) -> str:
    """A person ("Jana Weiß") or a firm ("Müller Webdesign GmbH", "Bäckerei Schröder")."""
    if rng.random() < 0.35:
        return f"{rng.choice(vocab.FIRST_NAMES)} {rng.choice(vocab.SURNAMES)}"
    s, s2 = rng.sample(vocab.SURNAMES, 2)
    return rng.choice(vocab.FIRM_PATTERNS).format(s=s, s2=s2, c=rng.choice(vocab.CITIES))


def make_customer(rng: random.Random, customer_id: str, next_service_id) -> Customer:
    """A customer with 1–3 services; ``next_service_id()`` hands out service ids in order."""
    services = []
    for _ in range(_N_SERVICES.draw(rng)):
        product = _PRODUCTS.draw(rng)
        services.append(Service(next_service_id(), product, vocab.PRODUCTS[product]))
    return Customer(customer_id, customer_name(rng), _CONTRACTS.draw(rng), services)
