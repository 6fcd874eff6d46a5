"""One block of the sample: its customers, their tickets, time, invoices, dirty rows, findings.

The data is made in blocks of :data:`BLOCK_TICKETS` tickets, each from its own random stream
(``seed`` and block number), so a block's content does not depend on how many blocks are
buffered before writing (the chunk size) and the first blocks of a big run equal a small run's.
Ids, invoice numbers and line numbers are handed out by :class:`Context` in block order.

Planting is by quota: every block plants ``round(PLANT_RATE × tickets)`` tickets of each
scenario of :data:`audit.sample.billing.SCENARIOS` on distinct, otherwise clean tickets whose
work lies in one month. The first block also holds the fixed cases: the waived customer's two
tickets, the XSS and spreadsheet-formula probes and the subjects with a newline or ``;"``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from audit.sample import agents as work
from audit.sample import dirty as bad
from audit.sample import vocab
from audit.sample.billing import (
    SCENARIOS,
    WAIVER_SCENARIOS,
    Finding,
    PendingLine,
    bill,
    month_deltas,
    ticket_findings,
)
from audit.sample.clock import Window, local_epoch, to_local, unambiguous
from audit.sample.draw import Weights, between
from audit.sample.euserv import (
    EXTENDED,
    STANDARD,
    WAIVER_CUSTOMER,
    is_howto,
    policy_tier,
    price_on,
)
from audit.sample.people import Customer, make_customer
from audit.sample.tickets import (
    ANY,
    UNCLASSIFIED,
    Calendar,
    Ticket,
    draw_attributes,
    draw_entries,
    month_summaries,
    n_entries,
    response_seconds,
)

BLOCK_TICKETS = 200
PLANT_RATE = 0.02  # per scenario, of a block's tickets
NO_TIME_RATE = 0.02  # clean tickets closed without tracked time
UNRESOLVED_RATE = 0.04

#: Fixed customers of the first block: the waived one, and two whose names are XSS probes.
PROBE_CUSTOMERS = {"K-10013": vocab.XSS_SCRIPT, "K-10021": vocab.XSS_IMG}
_MIN_TICKETS = {WAIVER_CUSTOMER: 3, **dict.fromkeys(PROBE_CUSTOMERS, 2)}
_SHOWCASE_SUBJECTS = (vocab.MULTILINE_SUBJECT, vocab.SEMICOLON_QUOTE_SUBJECT, vocab.FORMULA_SUBJECT)
_AGENTS = vocab.SPECIALISTS + vocab.GENERALISTS
_QUOTA_SCENARIOS = (*SCENARIOS, *work.WORK_SCENARIOS)
_PLANTED = {**SCENARIOS, **work.WORK_SCENARIOS, **WAIVER_SCENARIOS}
_PRIORITIES = Weights.of(vocab.PRIORITY_WEIGHTS)
_CHANNELS = Weights.of(vocab.CHANNEL_WEIGHTS)


class Context:
    """What carries over from block to block: the arguments and the id counters."""

    def __init__(self, seed: int, window: Window, dirty: bool):
        self.seed, self.window, self.dirty = seed, window, dirty
        self.calendar = Calendar(window)
        self._next = {"K": 10001, "S": 20001, "T": 100001, "E": 1000001}
        self._docs: Counter[tuple[str, str]] = Counter()
        prices = [price_on(window.first_day(m)) for m in window.month_keys]
        # "old price on a July line": plant price errors after a price change when there is one
        self.price_error_months = tuple(
            m for m, p in zip(window.month_keys, prices, strict=True) if p == prices[-1]
        ) if len(set(prices)) > 1 else window.month_keys

    def new_id(self, prefix: str) -> str:
        n = self._next[prefix]
        self._next[prefix] = n + 1
        return f"{prefix}-{n}"

    def doc_number(self, prefix: str, month: str) -> int:
        """Next number of an invoice (R), credit note (GS) or line (L) in ``month``."""
        self._docs[(prefix, month)] += 1
        return self._docs[(prefix, month)]


@dataclass
class Block:
    customers: list[tuple] = field(default_factory=list)
    services: list[tuple] = field(default_factory=list)
    tickets: list = field(default_factory=list)
    time_entries: list = field(default_factory=list)
    lines: dict[str, list] = field(default_factory=dict)  # issue month -> rows
    findings: list[dict] = field(default_factory=list)
    planted: Counter = field(default_factory=Counter)
    #: sums of the ticket-month deltas (docs/semantics.md: positive, negative) and waived ones
    under_eur: Decimal = Decimal("0.00")
    over_eur: Decimal = Decimal("0.00")
    waived_eur: Decimal = Decimal("0.00")


def build_block(ctx: Context, index: int, n: int) -> Block:
    """Block ``index`` with ``n`` tickets."""
    rng = random.Random(f"support-audit-sample/{ctx.seed}/{index}")
    block = Block()
    customers, slots = _customers(ctx, rng, n)
    for c in customers:
        block.customers.append((c.customer_id, c.name, c.contract))
        block.services.extend((s.service_id, c.customer_id, s.product, s.managed) for s in c.services)
    plan = _plan(ctx, rng, slots, first=index == 0)

    lines: list[PendingLine] = []
    findings: list[Finding] = []
    clean_entries: list[int] = []  # indexes into block.time_entries of clean tickets
    for i, customer in enumerate(slots):
        t, entry_rows, t_lines, t_findings, deltas = _ticket(ctx, rng, customer, plan.get(i))
        block.tickets.append(_ticket_row(t))
        if t.scenario is None:
            clean_entries.extend(range(len(block.time_entries), len(block.time_entries) + len(entry_rows)))
        else:
            block.planted[t.scenario] += 1
        for d in deltas:
            if d > 0:
                block.under_eur += d
            else:
                block.over_eur += d
        block.time_entries.extend(entry_rows)
        lines.extend(t_lines)
        findings.extend(t_findings)

    _number(ctx, lines)
    for f in findings:
        if f.waived and f.delta is not None:
            block.waived_eur += f.delta
    block.findings = sorted(
        (f.record() for f in findings),
        key=lambda r: (r["customer_id"], r["ticket_id"], r["month"], r["kind"], r["line_id"] or ""),
    )
    for line in lines:
        block.lines.setdefault(line.issue_month, []).append(line.row())
    # a short last block gets its dirty rows with a chance in proportion, to stay near ~1 %
    if ctx.dirty and rng.random() < n / BLOCK_TICKETS:
        _add_dirty(ctx, rng, block, lines, clean_entries)
    return block


def _customers(ctx: Context, rng: random.Random, n: int) -> tuple[list[Customer], list[Customer]]:
    """New customers until they have ``n`` tickets between them; slots = one per ticket."""
    customers: list[Customer] = []
    slots: list[Customer] = []
    while len(slots) < n:
        c = make_customer(rng, ctx.new_id("K"), lambda: ctx.new_id("S"))
        if c.customer_id in PROBE_CUSTOMERS:
            c.name = PROBE_CUSTOMERS[c.customer_id]
        k = 0 if rng.random() < 0.15 else min(20, 1 + int(rng.expovariate(1 / 3)))
        customers.append(c)
        slots.extend([c] * max(k, _MIN_TICKETS.get(c.customer_id, 0)))
    slots = slots[:n]
    rng.shuffle(slots)
    return customers, slots


def _plan(
    ctx: Context, rng: random.Random, slots: list[Customer], first: bool
) -> dict[int, tuple[str, int]]:
    """slot -> (scenario or special case, variant number). Unplanned slots are ordinary.

    Special clean cases: ``probe`` (an XSS subject), ``showcase`` (newline / ``;"`` / formula
    subjects; first block only), ``month_end`` (an entry across a month's last midnight) and
    ``dst`` (an entry across a DST change).
    """
    plan: dict[int, tuple[str, int]] = {}
    fixed = {WAIVER_CUSTOMER, *PROBE_CUSTOMERS}
    free = [i for i, c in enumerate(slots) if c.customer_id not in fixed]
    quota = round(PLANT_RATE * len(slots))
    names = [name for _ in range(quota) for name in _QUOTA_SCENARIOS][: len(free) // 2]
    for i, name in zip(rng.sample(free, len(names)), names, strict=True):
        plan[i] = (name, 0)
    for cid, cases in ((WAIVER_CUSTOMER, WAIVER_SCENARIOS), *((c, ("probe",)) for c in PROBE_CUSTOMERS)):
        mine = [i for i, c in enumerate(slots) if c.customer_id == cid]
        for i, name in zip(mine, cases, strict=False):
            plan[i] = (name, 0)
    clean = [i for i in range(len(slots)) if i not in plan and slots[i].customer_id not in fixed]
    specials = [("showcase", k) for k in range(len(_SHOWCASE_SUBJECTS))] if first else []
    specials += [("month_end", 0)] * 2 + [("dst", k) for k in range(len(ctx.window.dst_changes))]
    for i, case in zip(rng.sample(clean, min(len(clean), len(specials))), specials, strict=False):
        plan[i] = case
    seen: Counter[str] = Counter()
    for i in sorted(plan):  # variants alternate in slot order (keyword subject or not, …)
        name = plan[i][0]
        if name in _PLANTED:
            plan[i] = (name, seen[name])
            seen[name] += 1
    return plan


def _attributes(rng: random.Random, customer: Customer, case: str | None, variant: int):
    """(service, category, cause, subject, policy tier, recorded tier) of a ticket."""
    if case in work.WORK_SCENARIOS:
        return work.attributes(rng, customer)
    if case in _PLANTED:
        want, recorded = _PLANTED[case]
        if case == "signal_false_alarm":
            category = rng.choice(tuple(vocab.KEYWORD_HOWTO_SUBJECTS))
            subject = rng.choice(vocab.KEYWORD_HOWTO_SUBJECTS[category])
            return None, category, None, subject, policy_tier(category, None, None), STANDARD
        if recorded is None:  # unclassified: half recorded standard, half extended
            recorded = STANDARD if variant % 2 == 0 else EXTENDED
        keyword = None  # recorded extended: the signal cannot fire, any subject will do
        if recorded == STANDARD:  # extended work recorded standard alternates signal / no signal
            keyword = variant % 2 == 0 if want == EXTENDED else False
        service, category, cause, subject, policy = draw_attributes(
            rng, customer, want or UNCLASSIFIED, keyword)
        return service, category, cause, subject, policy, recorded
    if case in ("probe", "showcase"):
        subject = PROBE_CUSTOMERS.get(customer.customer_id) if case == "probe" else _SHOWCASE_SUBJECTS[variant]
        return None, "customer_center_usage", None, subject, STANDARD, STANDARD
    want = EXTENDED if case in ("month_end", "dst") else ANY
    service, category, cause, subject, policy = draw_attributes(rng, customer, want)
    return service, category, cause, subject, policy, policy


def _ticket(ctx: Context, rng: random.Random, customer: Customer, planned: tuple[str, int] | None):
    """A ticket with its entry rows, invoice lines and findings."""
    case, variant = planned or (None, 0)
    service, category, cause, subject, policy, recorded = _attributes(rng, customer, case, variant)
    priority = _PRIORITIES.draw(rng)
    channel = None if category == "documentation" or rng.random() < 0.02 else _CHANNELS.draw(rng)
    # specialists do most extended work, generalists most standard work
    specialist = rng.random() < (0.8 if policy == EXTENDED else 0.2)
    team = vocab.SPECIALISTS if specialist else vocab.GENERALISTS
    if is_howto(category, cause, service.managed if service else None):
        team = vocab.GENERALISTS  # how-to help is a generalist's (agents.py plants the exceptions)
    scenario = case if case in _PLANTED else None
    t = Ticket(ctx.new_id("T"), customer, service, category, cause, subject, policy, recorded,
               priority, channel, rng.choice(team), scenario=scenario)

    _schedule(ctx, rng, t, case, variant)
    work.shape_work(rng, t)
    entry_rows, starts, seconds, agents = [], [], [], []
    for k, (start, secs, minutes_only) in enumerate(t.entries):
        local = to_local(start)
        agent = work.entry_agent(rng, t, k, t.agent if rng.random() < 0.8 else rng.choice(_AGENTS))
        agents.append(agent)
        end = None if minutes_only else to_local(start + secs)
        minutes = Decimal(secs) / 60 if minutes_only else None
        entry_rows.append((ctx.new_id("E"), t.ticket_id, agent, local, end, minutes))
        starts.append(local)
        seconds.append(secs)
    tms = month_summaries(starts, seconds)
    lines, findings = bill(t, tms, ctx.window, rng)
    findings += ticket_findings(t) + work.work_findings(t, agents)
    deltas = [d for d in month_deltas(t, tms, lines).values() if d]
    if scenario is None and (findings or deltas):
        raise AssertionError(f"clean ticket {t.ticket_id} would raise findings")  # pragma: no cover
    return t, entry_rows, lines, findings, deltas


def _schedule(ctx: Context, rng: random.Random, t: Ticket, case: str | None, variant: int) -> None:
    """When the ticket was opened, answered, worked on and resolved."""
    window = ctx.window
    first_start = first_seconds = None
    limit = window.end_epoch
    n = 0 if (case is None and rng.random() < NO_TIME_RATE) else n_entries(rng)
    if t.scenario:
        month, no_time = _planted_month(ctx, rng, t.scenario, variant)
        t.opened = ctx.calendar.opened(rng, month)
        limit = window.month_bounds(month)[1]  # all planted work in the opened month
        n = 0 if no_time else n
    elif case == "month_end":  # an entry from 23:xx on a month's last day into the next day
        day = window.month_end_day(rng.choice(window.month_keys))
        t.opened = local_epoch(day, between(rng, 20 * 3600, 22 * 3600 + 1800))
        first_start = local_epoch(day, between(rng, 23 * 3600 + 1200, 23 * 3600 + 3000))
        midnight = local_epoch(day + dt.timedelta(days=1), 0)
        first_seconds = midnight - first_start + between(rng, 300, 3600)
    elif case == "dst":  # an entry across the night's clock change
        day, change = window.dst_changes[variant]
        t.opened = local_epoch(day, between(rng, 600, 3600))
        first_start = local_epoch(day, between(rng, 5400, 6900))
        first_seconds = change - first_start + between(rng, 600, 3600)
    else:
        t.opened = ctx.calendar.opened(rng)
    response = response_seconds(rng, t.priority)
    if n:
        t.entries = draw_entries(rng, first_start or t.opened + response, limit, n, first_seconds)
        t.first_response = t.entries[0][0]
        last_end = max(s + d for s, d, _ in t.entries)
    else:
        t.first_response = t.opened + response
        last_end = t.first_response
    if rng.random() >= UNRESOLVED_RATE:
        t.resolved = last_end + between(rng, 60, 3600)
    t.first_response = max(unambiguous(t.first_response), t.opened)
    if t.resolved is not None:
        t.resolved = max(unambiguous(t.resolved), t.first_response)


def _planted_month(ctx: Context, rng: random.Random, scenario: str, variant: int) -> tuple[str, bool]:
    """The month of a planted ticket's work, and whether it has no time entries at all."""
    months = ctx.window.month_keys
    if scenario == "price_mismatch":
        return rng.choice(ctx.price_error_months), False
    if scenario == "billed_without_time":
        if variant % 2 and len(months) > 1:
            return rng.choice(months[:-1]), False  # time in this month, a line in the next
        return rng.choice(months), True  # invoiced, but no time tracked at all
    return rng.choice(months), False


def _ticket_row(t: Ticket) -> tuple:
    return (
        t.ticket_id, t.customer.customer_id, t.service.service_id if t.service else None,
        to_local(t.opened), to_local(t.first_response) if t.first_response else None,
        to_local(t.resolved) if t.resolved else None, t.priority, t.channel, t.category, t.subject,
        t.cause, t.recorded,
    )


def _document(ln: PendingLine) -> tuple:
    """Which document a line is on: month, invoices before credit notes, customer."""
    return ln.issue_month, ln.prefix != "R", ln.seq, int(ln.customer_id[2:])


def _number(ctx: Context, lines: list[PendingLine]) -> None:
    """Invoice and line numbers: per month in customer order; ``lines`` ends up in that order."""
    lines.sort(key=_document)  # stable: a document's lines keep their order
    numbers: dict[tuple, str] = {}
    for ln in lines:
        doc = _document(ln)
        if doc not in numbers:
            numbers[doc] = f"{ln.prefix}-{ln.issue_month}-{ctx.doc_number(ln.prefix, ln.issue_month):04d}"
        ln.invoice_id = numbers[doc]
        ln.line_id = f"L-{ln.issue_month}-{ctx.doc_number('L', ln.issue_month):05d}"


def _add_dirty(ctx: Context, rng: random.Random, block: Block, lines: list[PendingLine],
               clean_entries: list[int]) -> None:
    """One dirty row of every kind, at random places among the block's rows."""
    base = block.tickets[rng.randrange(len(block.tickets))]
    for row in bad.dirty_tickets(rng, lambda: ctx.new_id("T"), base):
        block.tickets.insert(between(rng, 0, len(block.tickets)), row)

    entries = block.time_entries
    if clean_entries:
        i = rng.choice(clean_entries)
        original = entries[i]
        entries.insert(between(rng, i + 1, len(entries)), bad.duplicate_entry(rng, original, _AGENTS))
        start = int(original[3].timestamp()) + 7200
        entries.insert(between(rng, 0, len(entries)),
                       bad.reversed_entry(ctx.new_id("E"), original[1], original[2], start))
    orphan = bad.orphan_entry(rng, ctx.new_id("E"), rng.choice(_AGENTS), ctx.calendar.opened(rng))
    entries.insert(between(rng, 0, len(entries)), orphan)

    invoiced = [ln for ln in lines if ln.prefix == "R" and ln.quantity > 0]
    if invoiced:
        sibling = rng.choice(invoiced)
        line_id = f"L-{sibling.issue_month}-{ctx.doc_number('L', sibling.issue_month):05d}"
        block.lines[sibling.issue_month].append(bad.three_decimal_line(sibling.row(), line_id))
