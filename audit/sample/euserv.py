"""The default policy's rules, as the sample generator needs them to plant errors exactly.

The engine never sees this module: it reads ``policies/``. The generator has to know the same
rules to make clean data clean and to write the findings its planted errors must produce, so it
keeps a mirror here, in one place. ``tests/test_sample_oracle.py`` holds the mirror against the
YAML files (prices, unit, rounding, time zone, keywords, waiver, and every category/cause/managed
combination through the policy's own ``when`` conditions), so a policy edit that the generator
does not follow fails a test instead of silently skewing the ground truth.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from audit.sample import vocab

TIMEZONE = "Europe/Berlin"
TZ = ZoneInfo(TIMEZONE)

STANDARD = "standard"
EXTENDED = "extended"

UNIT_SECONDS = 15 * 60  # billing.unit_minutes; rounding: ceil; scope: entry

#: billing.prices: (first local date, last local date or None, net EUR per started unit).
PRICES = (
    (dt.date(2020, 1, 1), dt.date(2026, 6, 30), Decimal("17.50")),
    (dt.date(2026, 7, 1), None, Decimal("19.00")),
)
FIRST_PRICED_DATE = PRICES[0][0]

#: The signal ``extended-keywords-on-standard`` of policies/findings.yaml.
SIGNAL_KIND = "suspected_misclassification"
SIGNAL_KEYWORDS = re.compile("iptables|firewall|backup|gelöscht|webdesign")

#: The work signals ``long-howto-help`` and ``specialist-on-standard`` of policies/findings.yaml:
#: how-to help (STD-1/STD-2) with more than this many tracked seconds in total, and a standard
#: ticket other than STD-3/STD-4 on which an agent with this role tracked time.
HOWTO_CATEGORIES = ("customer_center_usage", "software_usage")
HOWTO_MAX_SECONDS = 30 * 60
SPECIALIST_ROLE = "specialist"

#: Waiver W-2026-001 of policies/waivers.yaml.
WAIVER_CUSTOMER = "K-10007"
WAIVER_KIND = "extended_unbilled"
WAIVER_EXPIRES = dt.date(2026, 12, 31)

EXTENDED_CATEGORIES = ("webdesign", "customer_center_data", "misconfiguration", "data_loss")
UNKNOWN_CATEGORIES = tuple(vocab.UNKNOWN_CATEGORY_SUBJECTS)


def policy_tier(category: str, cause: str | None, managed: bool | None) -> str | None:
    """The tier policies/classification.yaml derives; None = unclassified. Rules in file order."""
    if category == "documentation":
        return STANDARD
    if cause == "customer":
        return EXTENDED
    if category in ("customer_center_usage", "software_usage"):
        return STANDARD
    if category == "service_fault":
        return STANDARD if managed else EXTENDED  # NULL service.managed is not TRUE
    if category in EXTENDED_CATEGORIES:
        return EXTENDED
    return None


def is_howto(category: str, cause: str | None, managed: bool | None) -> bool:
    """Decided by the STD-1/STD-2 rules (the rules the work signals look at)."""
    return category in HOWTO_CATEGORIES and policy_tier(category, cause, managed) == STANDARD


def price_on(day: dt.date) -> Decimal:
    """Price in force on a local date (the generator only produces priced dates)."""
    for first, last, price in PRICES:
        if first <= day and (last is None or day <= last):
            return price
    raise ValueError(f"no price in force on {day}")


def other_price(price: Decimal) -> Decimal:
    """A wrong but plausible price for ``price``: the list's neighbouring period's price."""
    prices = [p for _, _, p in PRICES]
    i = prices.index(price)
    return prices[i - 1] if i > 0 else prices[i + 1]


def units(seconds: int) -> int:
    """Started quarter hours: ⌈seconds / 900⌉ (900 s → 1, 901 s → 2, 0 s → 0)."""
    return -(-seconds // UNIT_SECONDS)


def waived(customer_id: str, kind: str, month: str) -> bool:
    """Whether W-2026-001 covers a finding (its month must start on or before expiry)."""
    return (
        customer_id == WAIVER_CUSTOMER
        and kind == WAIVER_KIND
        and dt.date.fromisoformat(month + "-01") <= WAIVER_EXPIRES
    )

