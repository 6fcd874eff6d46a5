"""The agents table, who works on which ticket, and the planted cases of the work signals.

The default policy's work signals (policies/findings.yaml, mirrored in
:mod:`audit.sample.euserv`) look at how-to tickets (the STD-1/STD-2 rules): more than 30 tracked
minutes in total, or an agent with role ``specialist`` tracking time on them. So that they fire
exactly on the planted cases, every other how-to ticket — clean or planted for another scenario —
is kept quiet: its entries are cut to at most 30 minutes in total and only agents without the
specialist role work on it. Two scenarios break one rule each:

``long_howto``        how-to help by generalists with more than 30 minutes in total;
``specialist_howto``  how-to help within 30 minutes, one entry by a specialist.

Agents: the specialists and generalists of :mod:`audit.sample.vocab`. ``jürgen.p`` has an umlaut
in his login, which the contract's id pattern refuses: with dirty rows his agents row is written
and quarantined, without it is left out; either way his entries have an agent with no role. One
generalist has no role recorded (an empty cell).
"""

from __future__ import annotations

import random

from audit.sample import vocab
from audit.sample.billing import Finding, at_stake, describe, opened_month
from audit.sample.dirty import Dirty
from audit.sample.draw import between
from audit.sample.euserv import (
    HOWTO_MAX_SECONDS,
    SIGNAL_KIND,
    SPECIALIST_ROLE,
    STANDARD,
    is_howto,
)
from audit.sample.tickets import Ticket, draw_attributes

#: scenario -> (policy tier, recorded tier), as billing.SCENARIOS
WORK_SCENARIOS: dict[str, tuple[str | None, str | None]] = {
    "long_howto": (STANDARD, STANDARD),
    "specialist_howto": (STANDARD, STANDARD),
}
DESCRIPTIONS = {
    "long_howto": "how-to help ({c}) with more than 30 tracked minutes",
    "specialist_howto": "how-to help ({c}) on which a specialist tracked time",
}

#: login -> (name, role, team); ``None``: an empty cell
AGENTS: dict[str, tuple[str, str | None, str]] = {
    "markus.h": ("Markus Hoffmann", "specialist", "2nd level"),
    "dennis.s": ("Dennis Schulz", "specialist", "2nd level"),
    "jens.z": ("Jens Zimmermann", "specialist", "2nd level"),
    "katrin.r": ("Katrin Richter", "specialist", "2nd level"),
    "jana.w": ("Jana Weber", "generalist", "1st level"),
    "anna.k": ("Anna Koch", "generalist", "1st level"),
    "tobias.m": ("Tobias Meyer", "generalist", "1st level"),
    "sabine.f": ("Sabine Fischer", "generalist", "1st level"),
    "lukas.b": ("Lukas Braun", "generalist", "1st level"),
    "miriam.t": ("Miriam Thiele", None, "1st level"),
}
#: in vocab's agents, but no valid login for the contract (quarantined when written)
UNLISTED = ("jürgen.p", ("Jürgen Peters", "generalist", "1st level"))
assert set(AGENTS) | {UNLISTED[0]} == set(vocab.SPECIALISTS + vocab.GENERALISTS)


def role(agent: str) -> str | None:
    """The role the audit sees (None: not in the loaded agents table, or no role)."""
    return AGENTS[agent][1] if agent in AGENTS else None


#: who may work on how-to help (the generalists: no specialist role)
_QUIET = tuple(a for a in vocab.GENERALISTS if role(a) != SPECIALIST_ROLE)


def agent_rows(dirty: bool) -> list:
    """Rows of agents.csv: every listed agent, and the unlisted one as a dirty row."""
    rows: list = [(login, name, r, team) for login, (name, r, team) in AGENTS.items()]
    if dirty:
        login, (name, r, team) = UNLISTED
        rows.insert(5, Dirty((login, name, r, team), "agent_login_not_an_id",
                             "expect_column_values_to_match_regex", "agent"))
    return rows


def attributes(rng: random.Random, customer) -> tuple:
    """(service, category, cause, subject, policy tier, recorded tier) of a planted work case:
    how-to help without a keyword in its subject (so the keyword signal stays quiet)."""
    for _ in range(200):
        service, category, cause, subject, policy = draw_attributes(rng, customer, STANDARD, keyword=False)
        if is_howto(category, cause, service.managed if service else None):
            return service, category, cause, subject, policy, STANDARD
    raise RuntimeError("no how-to attributes")  # pragma: no cover


def howto(t: Ticket) -> bool:
    return is_howto(t.category, t.cause, t.service.managed if t.service else None)


def entry_agent(rng: random.Random, t: Ticket, index: int, default: str) -> str:
    """The agent of entry ``index`` of ``t`` (``default``: the generator's usual pick)."""
    if not howto(t):
        return default
    if t.scenario == "specialist_howto" and index == 0:
        return rng.choice(vocab.SPECIALISTS)
    return default if role(default) != SPECIALIST_ROLE else rng.choice(_QUIET)


def shape_work(rng: random.Random, t: Ticket) -> None:
    """Cut a how-to ticket's entries to at most 30 minutes in total, or, for ``long_howto``,
    stretch its last entry beyond them (whole minutes, as a time tracker would)."""
    if not howto(t) or not t.entries:
        return
    total = sum(secs for _, secs, _ in t.entries)
    if t.scenario == "long_howto":
        if total <= HOWTO_MAX_SECONDS:
            start, secs, minutes_only = t.entries[-1]
            extra = (HOWTO_MAX_SECONDS - total) // 60 * 60 + 60 * between(rng, 1, 40)
            t.entries[-1] = (start, secs + extra, minutes_only)
        return
    budget, out = HOWTO_MAX_SECONDS, []
    for start, secs, minutes_only in t.entries:
        take = min(secs, budget)
        if minutes_only and take < secs:
            take = take // 60 * 60
        if take < 60:
            break
        out.append((start, take, minutes_only))
        budget -= take
    t.entries = out


def work_findings(t: Ticket, agents: list[str]) -> list[Finding]:
    """The work signals' findings for any ticket (``agents``: its entries' agents)."""
    if not howto(t):
        return []
    text = DESCRIPTIONS.get(t.scenario or "", "").format(c=t.category) or describe(t)
    out = []
    cid, month, stake = t.customer.customer_id, opened_month(t), at_stake(t)
    if sum(secs for _, secs, _ in t.entries) > HOWTO_MAX_SECONDS:
        out.append(Finding(SIGNAL_KIND, t.ticket_id, cid, month, None, text, at_stake=stake))
    if any(role(a) == SPECIALIST_ROLE for a in agents):
        out.append(Finding(SIGNAL_KIND, t.ticket_id, cid, month, None, text, at_stake=stake))
    return out
