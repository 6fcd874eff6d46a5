"""``support-audit check``: everything knowable about a policy bundle without data.

Every problem has a stable code (``SA…``, listed in :data:`CODES` and docs/check.md), one
severity and an exact ``file:line:col``. Two sources feed it:

1. The loader (:mod:`audit.policy.loader`): schema, YAML and condition errors. Its diagnostics
   keep their text; :func:`code_of` gives each its code (the loader stays code-free, so ``run``
   reports exactly what it always did).
2. The analysis of a loaded bundle, here: condition values outside a column's vocabulary, rules
   that can never decide (shadowed, redundant, never true), rules whose tiers only their order
   reconciles, price lists that start late or end, waivers that expired, expire soon or can
   never apply, vocabularies nothing uses.

Rule analysis is exhaustive evaluation, not guessing: every analysed condition is evaluated in
SQL's three-valued logic over every combination of the values its columns can hold (the column's
vocabulary, NULL where the column may be empty, and one "other" value standing for everything a
declared vocabulary or a free-text column does not list). Where that is not exact (a regular
expression, a pattern or a function applied to free text, a timestamp comparison) the rule is
not analysed and nothing is claimed about it (docs/check.md says exactly where).

Nothing here imports DuckDB, Great Expectations or Plotly: ``check`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlglot import exp

from audit.errors import EXIT_OK, EXIT_POLICY, Diagnostic, Location, PolicyError, did_you_mean
from audit.policy.model import FINDING_KINDS, Bundle

# --------------------------------------------------------------------------------------------
# Codes


@dataclass(frozen=True)
class Code:
    """A kind of problem ``check`` reports: stable id, short name, severity, one-line summary."""

    id: str
    name: str
    severity: str  # error | warning | info
    summary: str


_CODE_LIST = (
    # Loading: the file, its YAML and its fields (the loader's diagnostics).
    Code("SA100", "policy-file", "error", "The bundle or one of its files cannot be read."),
    Code("SA101", "yaml-syntax", "error", "A file is not valid YAML (or waivers.csv not valid CSV)."),
    Code("SA102", "duplicate-key", "error", "A key is set twice in one mapping."),
    Code("SA103", "section", "error", "A top-level section is unknown, defined twice or missing."),
    Code("SA104", "unknown-field", "error", "A field the policy language does not have."),
    Code("SA105", "missing-field", "error", "A required field is missing."),
    Code("SA106", "invalid-value", "error", "A field's value has the wrong type or is not allowed."),
    Code("SA107", "duplicate-id", "error", "An id (tier, rule, signal, waiver, override) is used twice."),
    Code("SA108", "unknown-tier", "error", "A rule or the default tier names a tier that is not declared."),
    Code("SA109", "unknown-finding-kind", "error", "A finding kind the engine does not implement."),
    Code("SA110", "unknown-timezone", "error", "settings.timezone is not an IANA time zone."),
    Code("SA111", "billing-tiers", "error", "Prices and billable tiers do not fit together."),
    Code("SA112", "signal-kind", "error", "A signal uses a built-in finding kind."),
    Code("SA113", "waiver-dates", "error", "A waiver's dates or month are impossible."),
    Code("SA115", "sla", "error", "An SLA calendar, target or credit is impossible: an unknown weekday, calendar, priority, holiday country or subdivision, a malformed, reversed or overlapping time frame, a closing day that is no date, a bad amount."),
    Code("SA114", "vocabulary", "error", "A vocabulary is declared for a column that cannot have one, twice, empty, or with a value twice."),
    # Conditions (the loader's condition checker).
    Code("SA120", "condition-syntax", "error", "A condition cannot be parsed."),
    Code("SA121", "condition-not-allowed", "error", "A condition uses something outside the safe subset of SQL."),
    Code("SA122", "condition-unknown-column", "error", "A condition names a column that does not exist."),
    Code("SA123", "condition-type", "error", "A condition compares values of different kinds or is not true/false."),
    Code("SA124", "condition-regex", "error", "A regular expression DuckDB (RE2) would refuse."),
    # Dated price lists (the loader rejects both).
    Code("SA130", "price-overlap", "error", "Two periods of one price list overlap."),
    Code("SA131", "price-gap", "error", "A price list has days without a price between two periods."),
    Code("SA199", "policy-invalid", "error", "Any other problem the loader reports."),
    # Analysis of a loaded bundle.
    Code("SA201", "unknown-value", "error", "A condition compares a column with a value outside its vocabulary: no data can match it."),
    Code("SA202", "shadowed-rule", "error", "A rule can never decide: earlier rules with another tier match every ticket it matches."),
    Code("SA203", "redundant-rule", "warning", "A rule can never decide: earlier rules with the same tier match every ticket it matches."),
    Code("SA204", "never-true", "error", "A condition is false or NULL for every ticket."),
    Code("SA205", "order-dependent-overlap", "warning", "Two rules with different tiers match the same tickets and only their order decides."),
    Code("SA206", "rule-exception", "info", "An earlier, narrower rule takes some tickets of a later, broader one with another tier (an exception, by design)."),
    Code("SA207", "not-analysed", "info", "A rule could not be analysed exhaustively; nothing is claimed about it."),
    Code("SA208", "undecided-tickets", "info", "Some tickets match no rule and there is no default tier: they will be reported as unclassified."),
    Code("SA210", "price-list-starts-late", "warning", "A price list starts after the bundle's effective_from: earlier work has no price."),
    Code("SA211", "price-list-ends", "warning", "A price list's last period has an end date: later work has no price."),
    Code("SA220", "waiver-expired", "info", "A waiver expired before the --as-of date."),
    Code("SA221", "waiver-expiring", "info", "A waiver expires within 30 days of the --as-of date."),
    Code("SA222", "waiver-kind-off", "warning", "A waiver's scope names a finding kind that is switched off: it can never apply."),
    Code("SA230", "unused-vocabulary", "warning", "A vocabulary no condition or price override uses."),
)

#: Every code, by id.
CODES: dict[str, Code] = {c.id: c for c in _CODE_LIST}
SEVERITIES = ("error", "warning", "info")
#: The docs page of the codes (each code has an anchor: docs/check.md#sa201).
DOCS_PAGE = "docs/check.md"
EXPIRING_DAYS = 30
#: Above this many value combinations the rules are not analysed (reported as SA207).
MAX_COMBINATIONS = 1_000_000

# Loader messages -> codes. The loader's texts are stable (tests pin them); the first pattern
# that matches wins, SA199 catches anything new (a test keeps every fixture off SA199).
_LOADER_CODES: tuple[tuple[str, str], ...] = (
    ("SA100", r"^(no such file or directory|no policy files|cannot read the file|the file is not UTF-8|a policy file is a mapping)"),
    ("SA101", r"^((YAML|CSV) syntax error|\d+ values in a row of \d+ columns)"),
    ("SA102", r"^duplicate key "),
    ("SA103", r"^(unknown section|section '.*' is defined twice|missing required section)"),
    ("SA104", r"^(unknown field |unknown column '.*' in the waiver list$|column '.*' is named twice)"),
    ("SA105", r"^(missing required field |the waiver list has no column )"),
    ("SA107", r"^duplicate (tier|rule id|signal id|waiver id|price override) "),
    ("SA108", r"^unknown tier "),
    ("SA109", r"^unknown finding kind "),
    ("SA110", r"^unknown time zone "),
    ("SA111", r"^(prices are set but no tier|tier '.*' is billable but there is no price|an override needs at least one)"),
    ("SA112", r"^signal kind "),
    ("SA113", r"^(the waiver expires .* before it was approved|'.*' is not a month$)"),
    ("SA114", r"^vocabulary "),
    ("SA115", r"^(time frame |unknown weekday |unknown subdivision |unknown holiday country |unknown calendar |unknown priority |'.*' is not a date|amount .* is not a non-negative amount|duplicate (target|credit) )"),
    ("SA120", r"^(cannot parse the condition|the condition is empty|unterminated string|comments are not allowed|';' is not allowed|a condition is an expression|write exactly one condition|the condition is nested|unexpected text after)"),
    ("SA124", r"^(invalid regular expression|regexp_matches options|the pattern of regexp_matches)"),
    ("SA121", r"^(function '.*' is not allowed|subqueries are not allowed|casts are not allowed|operator '.*' is not allowed|'\*' is not allowed|parameters are not allowed|this form of .* is not allowed)|is not allowed in a condition$"),
    ("SA122", r"^unknown column "),
    ("SA123", r"^(cannot compare|a comparison with NULL|a timestamp cannot be compared|IS is followed|the IN list is empty|NULL in an IN list|IN takes a list|coalesce mixes)|not a condition \(true/false\)$|, not true/false$|, expected (text|a number|true/false)|\(\) takes \d+ argument"),
    ("SA130", r"^price periods overlap"),
    ("SA131", r"^no price from .*: gap between"),
    ("SA106", r"^([a-z_]+: |'to' .* is before 'from'|a price has at most|a waiver scope names|write the price as|expected )"),
)
_LOADER_PATTERNS = [(code, re.compile(rx)) for code, rx in _LOADER_CODES]


def code_of(diagnostic: Diagnostic) -> str:
    """The code of one of the loader's diagnostics."""
    for code, pattern in _LOADER_PATTERNS:
        if pattern.search(diagnostic.message):
            return code
    return "SA199"


# --------------------------------------------------------------------------------------------
# Problems and the report


@dataclass(frozen=True)
class Problem:
    """One problem: its code, where it is, what is wrong and what to do."""

    code: str
    location: Location
    message: str
    hint: str = ""

    @property
    def severity(self) -> str:
        return CODES[self.code].severity

    @property
    def name(self) -> str:
        return CODES[self.code].name

    def __str__(self) -> str:
        text = f"{self.location}: {self.code} [{self.severity}] {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.code, self.message)


@dataclass
class CheckReport:
    """What ``check`` found in one bundle."""

    policy: str
    as_of: dt.date
    problems: list[Problem]
    bundle: Bundle | None = None  # None when the bundle did not load

    def count(self, severity: str) -> int:
        return sum(p.severity == severity for p in self.problems)

    def exit_code(self, strict: bool = False) -> int:
        """2 when an error is found (with ``strict``, also a warning); else 0."""
        failing = ("error", "warning") if strict else ("error",)
        return EXIT_POLICY if any(p.severity in failing for p in self.problems) else EXIT_OK


def check_policy(path: str | Path, as_of: dt.date | None = None) -> CheckReport:
    """Check the bundle at ``path``: the loader's problems, or the analysis of what loaded."""
    from audit.policy.loader import load_policy_sources

    as_of = as_of or dt.date.today()
    try:
        bundle, sources = load_policy_sources(path)
    except PolicyError as error:
        problems = [Problem(code_of(d), d.location, d.message, d.hint) for d in error.diagnostics]
        return CheckReport(str(path), as_of, sorted(problems, key=Problem.sort_key))
    problems = _Analysis(bundle, sources, as_of).run()
    return CheckReport(str(path), as_of, sorted(set(problems), key=Problem.sort_key), bundle)


# --------------------------------------------------------------------------------------------
# Three-valued evaluation of a condition over concrete values


class _Incomplete(Exception):
    """The condition cannot be evaluated exactly for this combination (a regex, free text …)."""


@dataclass(frozen=True)
class _Other:
    """A value of ``column`` other than the ``listed`` ones the domain names explicitly."""

    column: str
    listed: frozenset = frozenset()

    def __repr__(self) -> str:
        return "<any other value>"


def _truth(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    raise _Incomplete("a value that is not true/false is used as a condition")


def _eval(node: exp.Expression, env: dict[str, Any]) -> Any:
    """SQL semantics (NULL is None) of a checked condition node under ``env``."""
    from audit.policy.expr import CONDITION_COLUMNS, written_column

    if isinstance(node, exp.Paren):
        return _eval(node.this, env)
    if isinstance(node, exp.Column):
        return env[CONDITION_COLUMNS.get(written_column(node), written_column(node))]
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else Decimal(node.this)
    if isinstance(node, exp.Neg):
        return -_eval(node.this, env)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.And):
        a, b = _truth(_eval(node.this, env)), _truth(_eval(node.expression, env))
        return False if a is False or b is False else None if a is None or b is None else True
    if isinstance(node, exp.Or):
        a, b = _truth(_eval(node.this, env)), _truth(_eval(node.expression, env))
        return True if a is True or b is True else None if a is None or b is None else False
    if isinstance(node, exp.Not):
        a = _truth(_eval(node.this, env))
        return None if a is None else not a
    if isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
        a, b = _eval(node.this, env), _eval(node.expression, env)
        same = a is None and b is None or (a is not None and b is not None and _equal(a, b))
        return same if isinstance(node, exp.NullSafeEQ) else not same
    if isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)):
        a, b = _eval(node.this, env), _eval(node.expression, env)
        if a is None or b is None:
            return None
        if isinstance(node, exp.EQ):
            return _equal(a, b)
        if isinstance(node, exp.NEQ):
            return not _equal(a, b)
        _concrete(a, b)
        return {exp.LT: a < b, exp.LTE: a <= b, exp.GT: a > b, exp.GTE: a >= b}[type(node)]
    if isinstance(node, exp.Is):
        a = _eval(node.this, env)
        if isinstance(node.expression, exp.Null):
            return a is None
        return a is bool(node.expression.this)  # IS TRUE / IS FALSE: never NULL
    if isinstance(node, exp.In):
        a = _eval(node.this, env)
        if a is None:
            return None
        return any(_equal(a, _eval(item, env)) for item in node.expressions)
    if isinstance(node, exp.Between):
        a, lo, hi = (_eval(node.args[k], env) for k in ("this", "low", "high"))
        if None in (a, lo, hi):
            return None
        _concrete(a, lo, hi)
        return lo <= a <= hi
    if isinstance(node, (exp.Like, exp.ILike)):
        a, pattern = _eval(node.this, env), _eval(node.expression, env)
        if a is None or pattern is None:
            return None
        _concrete(a, pattern)
        if isinstance(node, exp.ILike):
            a, pattern = a.lower(), pattern.lower()
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, a, re.DOTALL) is not None
    if isinstance(node, exp.Coalesce):
        for arg in (node.this, *node.expressions):
            if (value := _eval(arg, env)) is not None:
                return value
        return None
    if isinstance(node, exp.RegexpLike):
        raise _Incomplete("it calls regexp_matches (regular expressions are not evaluated)")
    if isinstance(node, (exp.Lower, exp.Upper, exp.Trim, exp.Length)):
        a = _eval(node.this, env)
        if a is None:
            return None
        _concrete(a)
        if not a.isascii():
            raise _Incomplete("it changes the case of non-ASCII text")
        if isinstance(node, exp.Length):
            return Decimal(len(a))
        return a.lower() if isinstance(node, exp.Lower) else a.upper() if isinstance(node, exp.Upper) else a.strip(" ")
    if isinstance(node, (exp.Contains, exp.StartsWith, exp.EndsWith)):
        a, b = _eval(node.this, env), _eval(node.expression, env)
        if a is None or b is None:
            return None
        _concrete(a, b)
        if isinstance(node, exp.Contains):
            return b in a
        return a.startswith(b) if isinstance(node, exp.StartsWith) else a.endswith(b)
    raise _Incomplete(f"it uses {node.key}")


def _equal(a: Any, b: Any) -> bool:
    for other, value in ((a, b), (b, a)):
        if isinstance(other, _Other):
            if isinstance(value, _Other) or value not in other.listed:
                # "any other value" might be this one: not decidable from the listed values
                raise _Incomplete("it compares a column whose values are not all known with another column")
            return False
    return a == b


def _concrete(*values: Any) -> None:
    if any(isinstance(v, _Other) for v in values):
        raise _Incomplete(
            "it applies an ordering, a pattern or a function to a column whose values are not all "
            "known (free text, a declared vocabulary, a timestamp)"
        )


_EQUALITIES = (exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ)
_ORDERINGS = (exp.LT, exp.LTE, exp.GT, exp.GTE)


def _compared(tree: exp.Expression, ordering: bool = True) -> list[tuple[str, exp.Expression]]:
    """(column, the other operand) of every comparison and IN list with a column on one side."""
    from audit.policy.expr import CONDITION_COLUMNS, written_column

    def column_of(node: exp.Expression) -> str | None:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            return CONDITION_COLUMNS.get(written_column(node), written_column(node))
        return None

    kinds = _EQUALITIES + _ORDERINGS if ordering else _EQUALITIES
    pairs: list[tuple[str, exp.Expression]] = []
    for node in tree.walk():
        if isinstance(node, kinds):
            for a, b in ((node.this, node.expression), (node.expression, node.this)):
                if (col := column_of(a)) is not None:
                    pairs.append((col, b))
        elif isinstance(node, exp.In) and (col := column_of(node.this)) is not None:
            pairs += [(col, item) for item in node.expressions]
    return pairs


def _bits(mask: int, limit: int) -> list[int]:
    """The positions of the lowest ``limit`` set bits of ``mask``."""
    out = []
    while mask and len(out) < limit:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _columns_read(tree: exp.Expression) -> set[str]:
    from audit.policy.expr import CONDITION_COLUMNS, written_column

    return {
        CONDITION_COLUMNS.get(written_column(c), written_column(c)) for c in tree.find_all(exp.Column)
    }


def _describe(env: dict[str, Any], columns: list[str]) -> str:
    """An example ticket: ``category = 'x', cause IS NULL``."""
    from audit.policy.expr import CONDITION_COLUMN_INFO

    shown = {
        c.column: name for name, c in CONDITION_COLUMN_INFO.items() if not name.startswith("ticket.")
    }
    parts = []
    for column in columns:
        name, value = shown.get(column, column), env[column]
        if value is None:
            parts.append(f"{name} IS NULL")
        elif isinstance(value, _Other):
            parts.append(f"{name} = (any value not named)")
        elif isinstance(value, bool):
            parts.append(f"{name} = {str(value).lower()}")
        else:
            parts.append(f"{name} = '{value}'")
    return ", ".join(parts)


class _Space:
    """Every combination of the values of ``columns``, as bit positions of Python integers.

    A set of combinations (the tickets a condition is true for) is an int with one bit per
    combination, so AND/OR/NOT of conditions and "is every ticket of A also in B" are a few
    big-integer operations. Only a predicate that is not AND/OR/NOT (``x = 'a'``,
    ``coalesce(m, false)``) is evaluated value by value, over the columns it reads alone.
    """

    def __init__(self, columns: list[str], domains: list[list[Any]]):
        self.columns, self.domains = columns, domains
        self.size = 1
        for d in domains:
            self.size *= len(d)
        self.all = (1 << self.size) - 1
        self.strides: list[int] = []
        stride = 1
        for d in reversed(domains):
            self.strides.insert(0, stride)
            stride *= len(d)
        self._masks: dict[tuple[int, int], int] = {}

    def mask(self, i: int, v: int) -> int:
        """The combinations where column ``i`` has its ``v``-th value."""
        key = (i, v)
        if key not in self._masks:
            stride, d = self.strides[i], len(self.domains[i])
            period = stride * d
            mask, width = ((1 << stride) - 1) << (v * stride), period
            while width < self.size:  # repeat the period by doubling: linear in the size
                mask |= mask << width
                width *= 2
            self._masks[key] = mask & self.all
        return self._masks[key]

    def assignment(self, index: int) -> dict[str, Any]:
        return {
            c: d[(index // s) % len(d)]
            for c, d, s in zip(self.columns, self.domains, self.strides, strict=True)
        }

    def free(self, mask: int, index: int, i: int) -> bool:
        """Every value of column ``i`` (the others as at ``index``) is in ``mask``."""
        stride, d = self.strides[i], len(self.domains[i])
        base = index - ((index // stride) % d) * stride
        return all(mask >> (base + v * stride) & 1 for v in range(d))

    def true(self, tree: exp.Expression) -> int:
        return self._sym(tree)[0]

    def _sym(self, node: exp.Expression) -> tuple[int, int]:
        """(combinations where ``node`` is TRUE, where it is FALSE); the rest is NULL."""
        if isinstance(node, exp.Paren):
            return self._sym(node.this)
        if isinstance(node, exp.And):
            (ta, fa), (tb, fb) = self._sym(node.this), self._sym(node.expression)
            return ta & tb, fa | fb
        if isinstance(node, exp.Or):
            (ta, fa), (tb, fb) = self._sym(node.this), self._sym(node.expression)
            return ta | tb, fa & fb
        if isinstance(node, exp.Not):
            t, f = self._sym(node.this)
            return f, t
        read = sorted({self.columns.index(c) for c in _columns_read(node)})
        true = false = 0
        for combo in itertools.product(*(range(len(self.domains[i])) for i in read)):
            env = {self.columns[i]: self.domains[i][v] for i, v in zip(read, combo, strict=True)}
            value = _truth(_eval(node, env))
            if value is None:
                continue
            where = self.all
            for i, v in zip(read, combo, strict=True):
                where &= self.mask(i, v)
            if value:
                true |= where
            else:
                false |= where
        return true, false


# --------------------------------------------------------------------------------------------
# The analysis


@dataclass(eq=False)  # compared by identity
class _Condition:
    """One analysed condition: a classification rule's or a signal's ``when``."""

    section: str
    path: tuple[str | int, ...]
    ident: str
    tree: exp.Expression
    loc: Location
    positions: list[tuple[int, int]]
    columns: set[str] = field(default_factory=set)
    unknown_values: bool = False  # an SA201 value: "never matches" would only repeat it


class _Analysis:
    def __init__(self, bundle: Bundle, sources: Any, as_of: dt.date):
        from audit.policy.expr import CONDITION_COLUMN_INFO, CONTRACT_VOCABULARIES

        self.bundle, self.sources, self.as_of = bundle, sources, as_of
        self.problems: list[Problem] = []
        info = CONDITION_COLUMN_INFO
        #: ticket_facts column -> (values, closed): closed vocabularies admit no other value.
        self.vocab: dict[str, tuple[tuple[str, ...], bool]] = {
            c: (v, True) for c, v in CONTRACT_VOCABULARIES.items()
        }
        self.vocab["tier"] = (tuple(bundle.tier_ids), True)
        self.vocab["policy_tier"] = (tuple(bundle.tier_ids), True)
        self.declared: dict[str, str] = {}  # column -> the key as written
        for name, values in bundle.vocabularies.items():
            column = info[name.lower()].column
            self.vocab[column] = (tuple(values), False)
            self.declared[column] = name
        self.types = {c.column: c.type for c in info.values()}
        self.types["policy_tier"] = "text"
        self.nullable = self._nullable()

    @staticmethod
    def _nullable() -> dict[str, bool]:
        from audit.contract import TABLES

        out = {c.name: c.nullable for c in TABLES["tickets"].columns}
        out.update({f"service_{c.name}": True for c in TABLES["services"].columns})
        out.update({f"customer_{c.name}": c.nullable for c in TABLES["customers"].columns})
        out["policy_tier"] = True  # no rule decided and no default tier
        return out

    def add(self, code: str, where: Location, message: str, hint: str = "") -> None:
        self.problems.append(Problem(code, where, message, hint))

    def run(self) -> list[Problem]:
        from audit.policy.expr import checked_condition
        from audit.policy.loader import SIGNAL_COLUMNS

        rules = []
        for i, rule in enumerate(self.bundle.classification.rules):
            loc, positions = self.sources.condition("classification", "rules", i, "when")
            tree = checked_condition(rule.when)
            rules.append(_Condition("classification", ("rules", i), rule.id, tree, loc, positions, _columns_read(tree)))
        signals = []
        for i, signal in enumerate(self.bundle.signals):
            loc, positions = self.sources.condition("signals", i, "when")
            tree = checked_condition(signal.when, SIGNAL_COLUMNS)
            signals.append(_Condition("signals", (i,), signal.id, tree, loc, positions, _columns_read(tree)))
        for cond in (*rules, *signals):
            self.values(cond)
        self.rules(rules)
        for cond in signals:
            self.never_true(cond, "signal")
        self.prices()
        self.waivers()
        self.unused_vocabularies([*rules, *signals])
        return self.problems

    # -- values outside a vocabulary -------------------------------------------------------

    def values(self, cond: _Condition) -> None:
        for column, literal in _compared(cond.tree, ordering=False):
            if column not in self.vocab or not (isinstance(literal, exp.Literal) and literal.is_string):
                continue
            values, _closed = self.vocab[column]
            if literal.this in values:
                continue
            name = self._name(column)
            hint = did_you_mean(literal.this, values) or f"{name} is one of: {', '.join(values)}"
            cond.unknown_values = True
            self.add(
                "SA201",
                self._at(cond, literal),
                f"'{literal.this}' is not in the vocabulary of {name}: no ticket can match it",
                hint,
            )

    def _name(self, column: str) -> str:
        """The column as a policy author writes it: ``service.managed``, ``category``."""
        from audit.policy.expr import CONDITION_COLUMN_INFO

        if column in self.declared:
            return self.declared[column]
        for name, info in CONDITION_COLUMN_INFO.items():
            if info.column == column and not name.startswith("ticket."):
                return name
        return column

    def _at(self, cond: _Condition, node: exp.Expression) -> Location:
        starts = [n.meta["start"] for n in node.walk() if "start" in n.meta]
        if not starts or not cond.positions:
            return cond.loc
        line, col = cond.positions[min(min(starts), len(cond.positions) - 1)]
        return Location(cond.loc.file, line, col)

    # -- rules that never decide, and order-dependent overlaps ------------------------------

    def domain(self, column: str, literals: dict[str, set[str]]) -> list[Any]:
        typ = self.types.get(column, "text")
        values: list[Any]
        if typ == "boolean":
            values = [True, False]
        elif column in self.vocab:
            vocab, closed = self.vocab[column]
            values = list(vocab)
            if not closed:  # data outside a declared vocabulary is not rejected: it may come
                values += sorted(literals.get(column, set()) - set(vocab))
                values.append(_Other(column, frozenset(values)))
        elif typ == "text":
            values = sorted(literals.get(column, ()))
            values.append(_Other(column, frozenset(values)))
        else:  # numbers and timestamps: only tests that do not look at the value are exact
            values = [_Other(column)]
        if self.nullable.get(column, True):
            values.append(None)
        return values

    def space(self, conds: list[_Condition], literals: dict[str, set[str]]) -> _Space:
        columns = sorted(set().union(*(c.columns for c in conds)) if conds else set())
        return _Space(columns, [self.domain(c, literals) for c in columns])

    def rules(self, rules: list[_Condition]) -> None:
        literals = self._literals(rules)
        full = self.space(rules, literals)
        if full.size > MAX_COMBINATIONS:  # analyse what fits: the rules that are small alone
            small = [c for c in rules if self.space([c], literals).size <= MAX_COMBINATIONS]
            full = self.space(small, literals)
            while full.size > MAX_COMBINATIONS and small:
                small.pop()
                full = self.space(small, literals)
        truth: dict[int, int] = {}
        for cond in rules:
            if not cond.columns <= set(full.columns):
                reason = f"together with the rules before it, its columns have more than {MAX_COMBINATIONS} combinations of values"
            else:
                try:
                    truth[id(cond)] = full.true(cond.tree)
                    continue
                except _Incomplete as why:
                    reason = str(why)
            self.add(
                "SA207",
                cond.loc,
                f"rule '{cond.ident}' is not analysed for shadowing and overlaps: {reason}",
                "docs/check.md says which conditions are analysed",
            )
        tiers = {c.ident: r.tier for c, r in zip(rules, self.bundle.classification.rules, strict=True)}
        lines = {c.ident: c.loc.line for c in rules}
        before = 0  # tickets an earlier analysed rule decides
        decides: dict[str, int] = {}  # rule -> the tickets it decides among the analysed rules
        effective: dict[str, int] = {}  # the same, for rules no unanalysed rule comes before
        blocked = False  # an unanalysed rule came first: what the later ones decide is unknown
        shadowed: set[str] = set()
        for cond in rules:
            if id(cond) not in truth:
                blocked = True
                continue
            mine, tier = truth[id(cond)], tiers[cond.ident]
            if not mine:
                if not cond.unknown_values:
                    self.add(
                        "SA204",
                        cond.loc,
                        f"rule '{cond.ident}' never matches: its condition is false or NULL for every ticket",
                        "check the condition for contradictions",
                    )
            elif mine & ~before == 0:
                winners = [r for r, region in decides.items() if region & mine]
                named = ", ".join(f"'{w}' (line {lines[w]})" for w in winners)
                same = all(tiers[w] == tier for w in winners) and not blocked
                self.add(
                    "SA203" if same else "SA202",
                    cond.loc,
                    f"rule '{cond.ident}' never decides: every ticket it matches is decided earlier by {named}",
                    "remove the rule" if same else "move it before those rules, or narrow them",
                )
                shadowed.add(cond.ident)
            decides[cond.ident] = mine & ~before
            if not blocked:  # else an unanalysed rule may take some of it first
                effective[cond.ident] = decides[cond.ident]
            before |= mine
        if not blocked and self.bundle.classification.default_tier is None and before != full.all:
            self.undecided(full, full.all & ~before)
        for later in rules:
            if id(later) not in truth or later.ident in shadowed:
                continue
            for first_id, region in effective.items():
                if lines[first_id] >= lines[later.ident] or tiers[first_id] == tiers[later.ident]:
                    continue
                both = region & truth[id(later)]
                if not both:
                    continue
                first = next(c for c in rules if c.ident == first_id)
                shown = [c for c in full.columns if c in later.columns or c in first.columns]
                example = _describe(full.assignment((both & -both).bit_length() - 1), shown)
                if region & ~truth[id(later)] == 0:
                    self.add(
                        "SA206",
                        later.loc,
                        f"rule '{first_id}' (line {lines[first_id]}, tier {tiers[first_id]}) is an exception to "
                        f"rule '{later.ident}' (tier {tiers[later.ident]}): it takes some of its tickets, "
                        f"e.g. {example}",
                    )
                else:
                    self.add(
                        "SA205",
                        later.loc,
                        f"rules '{first_id}' (line {lines[first_id]}, tier {tiers[first_id]}) and "
                        f"'{later.ident}' (tier {tiers[later.ident]}) both match some tickets and only "
                        f"their order decides, e.g. {example}",
                        "make the conditions exclusive (AND NOT …), so that each says which tickets it decides",
                    )

    def undecided(self, full: _Space, left: int) -> None:
        """Tickets no rule decides: up to three examples, naming only the columns that matter."""
        examples: list[str] = []
        seen: set[tuple[str, Any]] = set()  # each example shows a new value of its first column
        candidates = _bits(left, 5000)
        candidates.sort(key=lambda k: any(isinstance(v, _Other) for v in full.assignment(k).values()))
        for k in candidates:
            env = full.assignment(k)
            matters = [c for i, c in enumerate(full.columns) if not full.free(left, k, i)]
            lead = (matters[0], env[matters[0]]) if matters else ("", None)
            if lead in seen:
                continue
            seen.add(lead)
            examples.append(_describe(env, matters) or "every ticket")
            if len(examples) == 3:
                break
        share = f"{left.bit_count()} of {full.size} combinations of values"
        self.add(
            "SA208",
            self.sources.at("classification", "default_tier"),
            f"no rule decides some tickets ({share}), e.g. " + "; ".join(examples),
            "they are reported as unclassified_ticket; add a rule or a default_tier if that is not meant",
        )

    def _literals(self, conds: list[_Condition]) -> dict[str, set[str]]:
        """Column -> the text literals it is compared with (=, <>, IS DISTINCT FROM, IN, < …)."""
        out: dict[str, set[str]] = {}
        for cond in conds:
            for column, literal in _compared(cond.tree):
                if isinstance(literal, exp.Literal) and literal.is_string:
                    out.setdefault(column, set()).add(literal.this)
        return out

    def never_true(self, cond: _Condition, what: str) -> None:
        if cond.unknown_values:
            return
        space = self.space([cond], self._literals([cond]))
        if space.size > MAX_COMBINATIONS:
            return
        try:
            if space.true(cond.tree):
                return
        except _Incomplete:
            return
        self.add(
            "SA204",
            cond.loc,
            f"{what} '{cond.ident}' never matches: its condition is false or NULL for every ticket",
            "check the condition for contradictions",
        )

    # -- price lists ------------------------------------------------------------------------

    def prices(self) -> None:
        billing = self.bundle.billing
        lists = [(("prices",), "the default price list", billing.prices)]
        lists += [
            (("overrides", i, "prices"), f"the price list of contract '{o.contract}'", o.prices)
            for i, o in enumerate(billing.overrides)
        ]
        start = self.bundle.metadata.effective_from
        for path, name, periods in lists:
            if not periods:
                continue
            order = sorted(range(len(periods)), key=lambda i: periods[i].valid_from)
            first, last = periods[order[0]], periods[order[-1]]
            if first.valid_from > start:
                self.add(
                    "SA210",
                    self.sources.at("billing", *path, order[0], "from"),
                    f"{name} starts on {first.valid_from}, after the bundle's effective_from {start}: "
                    f"work from {start} to {first.valid_from - dt.timedelta(days=1)} has no price",
                    "let the first period start on or before effective_from",
                )
            if last.valid_to is not None:
                self.add(
                    "SA211",
                    self.sources.at("billing", *path, order[-1], "to"),
                    f"{name} ends on {last.valid_to}: work after it has no price",
                    "leave the last period open (no 'to'), or add the next period",
                )
        contract_column = "customer_contract"
        if contract_column in self.declared:
            values, _ = self.vocab[contract_column]
            for i, override in enumerate(billing.overrides):
                if override.contract not in values:
                    hint = did_you_mean(override.contract, values) or f"contracts are: {', '.join(values)}"
                    self.add(
                        "SA201",
                        self.sources.at("billing", "overrides", i, "contract"),
                        f"'{override.contract}' is not in the vocabulary of "
                        f"{self.declared[contract_column]}: no customer has this price list",
                        hint,
                    )

    # -- waivers ----------------------------------------------------------------------------

    def waivers(self) -> None:
        for i, waiver in enumerate(self.bundle.waivers):
            left = (waiver.expires_on - self.as_of).days
            where = self.sources.at("waivers", i, "expires_on")
            if left < 0:
                self.add(
                    "SA220",
                    where,
                    f"waiver '{waiver.id}' expired on {waiver.expires_on} (as of {self.as_of}); "
                    f"it still covers findings of months starting on or before that day",
                    "renew it with a new expires_on, or remove it once those months are closed",
                )
            elif left <= EXPIRING_DAYS:
                self.add(
                    "SA221",
                    where,
                    f"waiver '{waiver.id}' expires on {waiver.expires_on}, in {left} day(s) (as of {self.as_of})",
                    "renew it if the exception still holds",
                )
            kind = waiver.scope.kind
            if kind in FINDING_KINDS and not self.bundle.finding_setting(kind).enabled:
                self.add(
                    "SA222",
                    self.sources.at("waivers", i, "scope", "kind"),
                    f"waiver '{waiver.id}' covers '{kind}' findings, which are switched off: it never applies",
                    f"enable '{kind}' in findings, or remove the waiver",
                )

    # -- vocabularies nothing uses ----------------------------------------------------------

    def unused_vocabularies(self, conds: list[_Condition]) -> None:
        used = set().union(*(c.columns for c in conds)) if conds else set()
        if self.bundle.billing.overrides:
            used.add("customer_contract")
        for column, name in self.declared.items():
            if column not in used:
                self.add(
                    "SA230",
                    self.sources.at("vocabularies", name, key=True),
                    f"vocabulary '{name}' is not used by any condition",
                    "remove it, or keep it commented out until a rule needs it",
                )

