"""The condition language: a small, safe subset of SQL, compiled to DuckDB SQL through sqlglot.

A policy's ``when:`` conditions are written by finance and support staff and executed by the
engine inside DuckDB, which can read files, environment variables and the network. So a condition
is never pasted into SQL: it is parsed into sqlglot's AST, every node is checked against a
whitelist (column references, literals, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS NULL and a
few string functions), column names are mapped onto the engine's ``ticket_facts`` relation, and
the SQL the engine runs is *generated* from that checked AST. Anything else is rejected at load
time, with the position of the offending token, before any SQL runs.

The checker also infers a simple type for every node (text, number, true/false, timestamp), so
that mistakes DuckDB would only report halfway through an audit (``service.managed = 'yes'``,
``category AND …``, a regex that does not compile) are reported when the policy is loaded.
Casts are refused: every column already has its type, and the only columns a cast could help
with, timestamps, would be converted in DuckDB's session time zone rather than the policy's.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from audit.contract import TABLES
from audit.errors import Diagnostic, Location, PolicyError, did_you_mean

_DIALECT = Dialect.get_or_raise("duckdb")

# --------------------------------------------------------------------------------------------
# Columns: derived from the data contract, so a column added there is usable in policies.

#: Contract column types as the checker sees them.
_TYPE_OF = {
    "string": "text",
    "integer": "number",
    "decimal": "number",
    "timestamp": "timestamp",
    "date": "date",
    "boolean": "boolean",
}
_TYPE_NAMES = {
    "text": "text",
    "number": "a number",
    "boolean": "true/false",
    "date": "a date",
    "timestamp": "a timestamp",
    "null": "NULL",
}


class ConditionColumn(NamedTuple):
    """A column a condition may name: its ``ticket_facts`` column, checker type and meaning."""

    column: str
    type: str
    description: str


def _condition_columns() -> dict[str, ConditionColumn]:
    out: dict[str, ConditionColumn] = {}
    for col in TABLES["tickets"].columns:
        out[col.name] = out[f"ticket.{col.name}"] = ConditionColumn(
            col.name, _TYPE_OF[col.type], col.description
        )
    for prefix, table in (("service", "services"), ("customer", "customers")):
        for col in TABLES[table].columns:
            out[f"{prefix}.{col.name}"] = ConditionColumn(
                f"{prefix}_{col.name}", _TYPE_OF[col.type], col.description
            )
    return out


#: Every name a condition may use (as written in a policy) and what it stands for.
CONDITION_COLUMN_INFO: dict[str, ConditionColumn] = _condition_columns()

#: Column names a condition may use -> the column of the engine's ``ticket_facts`` relation.
CONDITION_COLUMNS: dict[str, str] = {name: c.column for name, c in CONDITION_COLUMN_INFO.items()}


def _contract_vocabularies() -> dict[str, tuple[str, ...]]:
    """``ticket_facts`` column -> the values the data contract lets through (its in_set lists).

    An empty set (``tickets.tier``) is filled from the policy's tiers; it is left out here.
    """
    out: dict[str, tuple[str, ...]] = {}
    for table, prefix in (("tickets", ""), ("services", "service_"), ("customers", "customer_")):
        for e in TABLES[table].expectations:
            values = tuple(e.kwargs.get("value_set") or ())
            if e.type == "expect_column_values_to_be_in_set" and values:
                out[prefix + e.kwargs["column"]] = values
    return out


#: Vocabularies every bundle knows without declaring them (``audit.policy.check`` uses them).
CONTRACT_VOCABULARIES: dict[str, tuple[str, ...]] = _contract_vocabularies()

#: Facts only a *signal's* condition may use (besides ``policy_tier``): the work behind a ticket,
#: its status history and the classification's decision, computed per ticket or per ticket-month
#: (the signal's ``scope``) by :mod:`audit.engine.signals`; docs/semantics.md defines each.
#: The ``sla.*`` facts read the SLA clocks (NULL for a ticket without an SLA target).
SIGNAL_FACTS: dict[str, ConditionColumn] = {
    "work.entries": ConditionColumn("work_entries", "number", "Time entries."),
    "work.seconds": ConditionColumn("work_seconds", "number", "Tracked seconds (exact)."),
    "work.minutes": ConditionColumn(
        "work_minutes", "number", "Tracked minutes: seconds / 60, cut to 4 decimals."
    ),
    "work.units": ConditionColumn(
        "work_units", "number", "Billable units as the billing rules count them, whatever the tier."
    ),
    "work.agents": ConditionColumn("work_agents", "number", "Distinct agents who tracked time."),
    "work.unknown_agents": ConditionColumn(
        "work_unknown_agents", "number", "Of those, agents not in the agents table."
    ),
    "work.roles": ConditionColumn(
        "work_roles", "text",
        "Roles of those agents, distinct, sorted, comma-separated (NULL: no known role).",
    ),
    "history.status_changes": ConditionColumn(
        "history_status_changes", "number", "Rows of ticket_status_history."
    ),
    "history.reopenings": ConditionColumn(
        "history_reopenings", "number", "Changes from resolved/closed to another status."
    ),
    "decision.rule": ConditionColumn(
        "decision_rule", "text", "Id of the deciding classification rule (NULL: unclassified)."
    ),
    "decision.clause": ConditionColumn(
        "decision_clause", "text", "Clause of the deciding rule (NULL when it has none)."
    ),
    "sla.first_response_minutes": ConditionColumn(
        "sla_first_response_minutes", "number",
        "Business minutes from opening to the first response, cut to 4 decimals (NULL: no SLA target or not answered).",
    ),
    "sla.resolution_minutes": ConditionColumn(
        "sla_resolution_minutes", "number",
        "Business minutes from opening to the resolution, pauses subtracted, cut to 4 decimals (NULL: no SLA target or not resolved).",
    ),
    "sla.first_response_breached": ConditionColumn(
        "sla_first_response_breached", "boolean",
        "The first-response target was missed (an open ticket: overdue at the as-of instant); NULL: no SLA target.",
    ),
    "sla.resolution_breached": ConditionColumn(
        "sla_resolution_breached", "boolean",
        "The resolution target was missed (an open ticket: overdue at the as-of instant); NULL: no SLA target.",
    ),
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

# --------------------------------------------------------------------------------------------
# Functions: the sqlglot node each one parses to, its argument types and its result.


@dataclass(frozen=True)
class _Function:
    name: str
    params: tuple[str, ...]
    result: str


_FUNCTIONS: dict[type[exp.Expression], _Function] = {
    exp.Lower: _Function("lower", ("text",), "text"),
    exp.Upper: _Function("upper", ("text",), "text"),
    exp.Trim: _Function("trim", ("text",), "text"),
    exp.Length: _Function("length", ("text",), "number"),
    exp.Contains: _Function("contains", ("text", "text"), "boolean"),
    exp.StartsWith: _Function("starts_with", ("text", "text"), "boolean"),
    exp.EndsWith: _Function("ends_with", ("text", "text"), "boolean"),
}

#: Every function a condition may call (coalesce and regexp_matches are checked specially).
FUNCTIONS: tuple[str, ...] = tuple(
    sorted([f.name for f in _FUNCTIONS.values()] + ["coalesce", "regexp_matches"])
)

_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.NullSafeEQ, exp.NullSafeNEQ)
#: DuckDB's regexp_matches options: c/i case, l literal, m/n/p/s newline handling, g global.
_REGEX_OPTIONS = set("cilmnps")
#: RE2 syntax Python's re lacks (\pL, \p{Greek}, \z, \C, \x{41}, \Q…\E), to be replaced by an
#: equivalent before Python compiles the pattern. An escaped backslash is matched first.
_RE2_ONLY = re.compile(r"\\\\|\\[pP](?:\{\w+\}|\w)|\\x\{[0-9A-Fa-f]+\}|\\[zC]|\\Q.*?(?:\\E|$)")
#: Python syntax RE2 refuses: lookaround, atomic groups, comments, conditionals, possessive
#: quantifiers, verbose mode, backreferences, \Z \u \U \N. Escapes are matched first.
_PYTHON_ONLY = re.compile(r"\\.|\(\?(?:<?[=!]|>|P=|#|\()|[*+?}]\+|\(\?[a-wyz]*x[a-z]*[:)]")
#: RE2's [[:name:]] classes (Python would read an unknown one as a plain set).
_POSIX_CLASS = re.compile(r"\[:\^?(\w+):\]")
_POSIX_CLASSES = set(
    "alnum alpha ascii blank cntrl digit graph lower print punct space upper word xdigit".split()
)

#: Leaves sqlglot records no position for, and the tokens they are written as.
_LEAF_TOKENS: dict[type[exp.Expression], tuple[TokenType, ...]] = {
    exp.Null: (TokenType.NULL,),
    exp.Boolean: (TokenType.TRUE, TokenType.FALSE),
    exp.Placeholder: (TokenType.PLACEHOLDER, TokenType.PARAMETER, TokenType.COLON),
    exp.Star: (TokenType.STAR,),
}

#: Tokens that start a SQL statement (DROP, COPY, ATTACH, INSTALL, SET, …).
_STATEMENTS = {*_DIALECT.parser_class.STATEMENT_PARSERS, TokenType.COMMAND}
_STATEMENT = "a condition is an expression, not a SQL statement"
_STATEMENT_HINT = "write a test on the ticket, e.g. category = 'webdesign'"
_REGEX_HINT = "DuckDB uses RE2 syntax: see docs/policy.md"
#: Limits of one condition (docs/policy.md): its length, and how deeply its expression nests
#: (a chain of 400 ORs is 400 levels deep; Python and DuckDB recurse over it).
MAX_CONDITION_CHARS = 10_000
MAX_CONDITION_DEPTH = 100
_SYNTAX_HINT = "see the condition language in docs/policy.md"
_OPERATORS_HINT = "conditions use = <> < <= > >= AND OR NOT IN BETWEEN LIKE ILIKE IS; no arithmetic"


class _Problems(Exception):
    """Problems found in one condition: (offset into the text, message, hint)."""

    def __init__(self, problems: list[tuple[int, str, str]]):
        super().__init__(problems)
        self.problems = problems


# --------------------------------------------------------------------------------------------
# Public API


def _columns_with(extra_columns: Iterable[str]) -> dict[str, ConditionColumn]:
    """The condition columns plus ``extra_columns``: a signal fact keeps its type, any other
    extra name (``policy_tier``) is a text column."""
    columns = dict(CONDITION_COLUMN_INFO)
    for name in extra_columns:
        if name in SIGNAL_FACTS:
            columns[name] = SIGNAL_FACTS[name]
            continue
        if not _IDENTIFIER.match(name):
            raise ValueError(f"extra column {name!r} is not a plain lower-case identifier")
        columns[name] = ConditionColumn(name, "text", "")
    return columns


def compile_condition(
    text: str,
    *,
    loc: Location,
    extra_columns: Iterable[str] = (),
    positions: Sequence[tuple[int, int]] | None = None,
) -> str:
    """Check a condition and return DuckDB SQL over the columns of ``ticket_facts``.

    ``loc`` is where ``text`` starts in its file. ``extra_columns`` are further text columns of
    the relation the condition runs on (signals: ``policy_tier``). ``positions`` optionally gives
    the 1-based (line, col) in the file of each character of ``text``: the loader passes it so
    that an error inside a folded or quoted YAML scalar points at the right token; without it,
    ``text`` is taken to be written verbatim at ``loc``.

    Raises :class:`PolicyError` with one diagnostic per problem; nothing is executed.
    """
    columns = _columns_with(extra_columns)
    try:
        tree = _Checker(text, columns).check()
    except _Problems as found:
        raise PolicyError(
            diagnostics=[
                Diagnostic(_position(loc, text, offset, positions), message, hint)
                for offset, message, hint in sorted(found.problems)
            ]
        ) from None
    return tree.transform(
        lambda node: (
            exp.column(columns[_written(node)].column) if isinstance(node, exp.Column) else node
        )
    ).sql(dialect="duckdb")


def checked_condition(text: str, extra_columns: Iterable[str] = ()) -> exp.Expression:
    """The checked sqlglot tree of a condition, with column names as written (for analysis).

    Raises :class:`PolicyError` (without positions) when the condition is not valid; the loader
    has reported those already, so the policy checker only calls this on a loaded bundle.
    """
    try:
        return _Checker(text, _columns_with(extra_columns)).check()
    except _Problems as found:
        raise PolicyError(
            diagnostics=[Diagnostic(Location("<condition>"), m, h) for _, m, h in found.problems]
        ) from None


def written_column(column: exp.Column) -> str:
    """A column reference as the policy author wrote it, normalised: ``service.managed``."""
    return _written(column)


# --------------------------------------------------------------------------------------------
# Positions


def _position(
    loc: Location, text: str, offset: int, positions: Sequence[tuple[int, int]] | None
) -> Location:
    """The file position of ``text[offset]``."""
    if positions:
        line, col = positions[min(max(offset, 0), len(positions) - 1)]
        return Location(loc.file, line, col)
    if not loc.line:
        return loc
    before = text[:offset]
    if "\n" in before:
        return Location(loc.file, loc.line + before.count("\n"), offset - before.rfind("\n"))
    return Location(loc.file, loc.line, loc.col + offset if loc.col else 0)


def _span(node: exp.Expression) -> tuple[int, int] | None:
    """First and last character of the tokens sqlglot recorded for ``node`` and its children."""
    marks = [(n.meta["start"], n.meta["end"]) for n in node.walk() if "start" in n.meta]
    if not marks:
        return None
    return min(s for s, _ in marks), max(e for _, e in marks)


def _written(column: exp.Column) -> str:
    """A column reference as the policy author wrote it, normalised: ``service.managed``."""
    return ".".join(part.name.lower() for part in column.parts)


def _unterminated(text: str) -> int | None:
    """Offset of a string, quoted name or comment that is never closed (sqlglot does not say)."""
    i = 0
    while i < len(text):
        opener = "/*" if text.startswith("/*", i) else text[i]
        closer = {"'": "'", '"': '"', "/*": "*/"}.get(opener)
        if closer is None:
            i += 1
            continue
        end = text.find(closer, i + len(opener))
        if end < 0:
            return i
        i = end + len(closer)
    return None


def regex_problem(pattern: str, options: str = "") -> str:
    """Why DuckDB (RE2) would refuse ``pattern``, or "" when it compiles.

    RE2 has no Python binding here, so the pattern is compiled by Python's ``re`` after RE2-only
    syntax is replaced by an equivalent, and Python-only syntax is looked for separately.
    """
    for found in _PYTHON_ONLY.finditer(pattern):
        token = found.group()
        if not token.startswith("\\") or token[1] in "123456789ZuUN":
            return f"'{token}' is not supported"
    for found in _POSIX_CLASS.finditer(pattern):
        if found.group(1) not in _POSIX_CLASSES:
            return f"'{found.group()}' is not a character class"
    as_python = _RE2_ONLY.sub(
        lambda m: m.group() if m.group() == "\\\\" else "$" if m.group() == "\\z" else "\\w",
        pattern,
    )
    try:
        with warnings.catch_warnings():  # "possible nested set" for RE2's [[:alpha:]]
            warnings.simplefilter("ignore")
            re.compile(as_python)
    except re.error as error:
        return error.msg
    # What Python accepts, RE2 may still refuse (a{1001}, nested counted repetitions over its
    # size limit, unknown Unicode classes): the last word is DuckDB's own compiler.
    from audit.policy.duckrules import regex_error

    return regex_error(pattern, options)


def _depth(tree: exp.Expression) -> int:
    """How deeply ``tree`` nests, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.iter_expressions():
            stack.append((child, depth + 1))
    return deepest


# --------------------------------------------------------------------------------------------
# The checker


class _Checker:
    """Parses one condition and checks it node by node; collects every problem it finds."""

    def __init__(self, text: str, columns: dict[str, ConditionColumn]):
        self.text = text
        self.columns = columns
        self.tokens: list[Token] = []
        self.problems: list[tuple[int, str, str]] = []

    # -- entry ---------------------------------------------------------------------------------

    def check(self) -> exp.Expression:
        tree = self._parse()
        if not isinstance(tree, exp.Condition) and not isinstance(
            tree, (exp.Alias, exp.Star, exp.Query, exp.Subquery)
        ):
            self.fail(self.tokens[0].start, _STATEMENT, _STATEMENT_HINT)
        else:
            self.condition(tree)
        if self.problems:
            raise _Problems(self.problems)
        return tree

    def _parse(self) -> exp.Expression:
        if not self.text.strip():
            raise _Problems(
                [(0, "the condition is empty", "write a test, e.g. category = 'webdesign'")]
            )
        if len(self.text) > MAX_CONDITION_CHARS:
            raise _Problems([(0, f"the condition is {len(self.text):,} characters long "
                                 f"(at most {MAX_CONDITION_CHARS:,})",
                              "split it into several rules, or use IN (…) for lists of values")])
        try:
            self.tokens = _DIALECT.tokenize(self.text)
        except TokenError:
            at = _unterminated(self.text)
            raise _Problems(
                [
                    (
                        at or 0,
                        "unterminated string, quoted name or comment",
                        "close every ' and \" you open",
                    )
                ]
            ) from None
        self._check_tokens()
        first = self.tokens[0]
        if first.token_type in _STATEMENTS:  # refused before sqlglot tries (and logs about) it
            raise _Problems([(first.start, _STATEMENT, _STATEMENT_HINT)])
        try:
            trees = _DIALECT.parser().parse(self.tokens, self.text)
        except ParseError as error:
            raise _Problems([self._parse_problem(error)]) from None
        except RecursionError:
            raise _Problems([(0, "the condition is nested too deeply", "simplify it")]) from None
        if len(trees) != 1 or trees[0] is None:  # defensive: ';' is rejected by _check_tokens
            raise _Problems([(0, "write exactly one condition", _SYNTAX_HINT)])
        if (depth := _depth(trees[0])) > MAX_CONDITION_DEPTH:
            raise _Problems([(0, f"the condition nests {depth} levels deep (at most "
                                 f"{MAX_CONDITION_DEPTH}; each AND/OR of a chain is one level)",
                              "use column IN ('a', 'b', …) instead of a chain of ORs, or split "
                              "it into several rules")])
        return trees[0]

    def _check_tokens(self) -> None:
        """Reject what lives between or across tokens: comments and ';' (statement separators)."""
        problems = []
        previous_end = -1
        for token in [*self.tokens, None]:
            start = token.start if token else len(self.text)
            gap = self.text[previous_end + 1 : start]
            if gap.strip():
                at = previous_end + 1 + len(gap) - len(gap.lstrip())
                problems.append(
                    (
                        at,
                        "comments are not allowed in a condition",
                        "put a YAML comment (# …) on its own line",
                    )
                )
            if token is not None:
                if token.token_type == TokenType.SEMICOLON:
                    problems.append(
                        (
                            start,
                            "';' is not allowed: a condition is one expression, not SQL statements",
                            "remove the ';' and what follows",
                        )
                    )
                previous_end = token.end
        if problems:
            raise _Problems(problems)

    def _parse_problem(self, error: ParseError) -> tuple[int, str, str]:
        info = error.errors[0] if error.errors else {}
        highlight = info.get("highlight") or ""
        line, col = info.get("line") or 1, info.get("col") or 1
        line_start = sum(len(s) + 1 for s in self.text.split("\n")[: line - 1])
        offset = max(0, min(line_start + col - len(highlight), len(self.text) - 1))
        detail = info.get("description") or str(error)
        if detail.startswith("Required keyword"):  # "… 'expression' missing for <class …And>"
            detail = "an operand is missing"
        near = f" near '{highlight}'" if highlight else ""
        return (
            offset,
            f"cannot parse the condition{near}: {detail}",
            "check parentheses, quotes and operators",
        )

    # -- reporting -----------------------------------------------------------------------------

    def fail(self, node: exp.Expression | int, message: str, hint: str = "") -> None:
        self.problems.append((node if isinstance(node, int) else self.offset(node), message, hint))

    def offset(self, node: exp.Expression) -> int:
        """Where ``node`` starts in the text; for an operator, where the operator is."""
        if "start" in node.meta:
            return node.meta["start"]
        if kinds := _LEAF_TOKENS.get(type(node)):  # sqlglot keeps no position: the n-th such token
            same = [n for n in node.root().dfs() if type(n) is type(node)]
            tokens = [t for t in self.tokens if t.token_type in kinds]
            index = next(i for i, n in enumerate(same) if n is node)
            if index < len(tokens):
                return tokens[index].start
        if isinstance(node, exp.Binary) and (left := _span(node.left)):
            return self._token_after(left[1], skip=(TokenType.R_PAREN,))
        span = _span(node)
        return span[0] if span else 0

    def _token_after(self, end: int, skip: tuple[TokenType, ...]) -> int:
        for token in self.tokens:
            if token.start > end and token.token_type not in skip:
                return token.start
        return end

    def snippet(self, node: exp.Expression) -> str:
        return _written(node) if isinstance(node, exp.Column) else node.sql(dialect="duckdb")

    # -- types ---------------------------------------------------------------------------------

    def condition(self, node: exp.Expression) -> None:
        """``node`` must be true/false: the top of a condition and each operand of AND/OR/NOT."""
        typ = self.typeof(node)
        if typ is not None and typ != "boolean":
            what = (
                f"column '{_written(node)}'" if isinstance(node, exp.Column) else self.snippet(node)
            )
            self.fail(
                node,
                f"{what} is {_TYPE_NAMES[typ]}, not a condition (true/false)",
                "compare it with a value, e.g. category = 'service_fault'",
            )

    def typeof(self, node: exp.Expression) -> str | None:
        """The type of ``node``, or None when it is not allowed (the problem is recorded)."""
        handler = _HANDLERS.get(type(node))
        if handler is None:
            self._reject(node)
            return None
        allowed, method = handler
        extra = sorted(
            k for k, v in node.args.items() if v not in (None, False, []) and k not in allowed
        )
        if extra:
            if isinstance(node, exp.In) and node.args.get("query"):
                self._reject(node.args["query"])
            elif type(node) in _FUNCTIONS:
                fn = _FUNCTIONS[type(node)]
                self.fail(node, f"{fn.name}() takes {len(fn.params)} argument(s)", _SYNTAX_HINT)
            else:
                self.fail(node, f"this form of {node.key.upper()} is not allowed", _SYNTAX_HINT)
            return None
        return method(self, node)

    def _column(self, node: exp.Column) -> str | None:
        name = _written(node)
        if name in self.columns:
            return self.columns[name].type
        hint = did_you_mean(name, self.columns)
        if name in SIGNAL_FACTS:
            hint = "work, history, decision and sla facts are for signals only (signals[].when)"
        if node.this.args.get("quoted") and "." not in name:
            hint = f"double quotes name a column; write text in single quotes: '{node.name}'"
        self.fail(node, f"unknown column '{name}'", hint or "see the column list in docs/policy.md")
        return None

    def _paren(self, node: exp.Paren) -> str | None:
        return self.typeof(node.this)

    def _literal(self, node: exp.Literal) -> str:
        return "text" if node.is_string else "number"

    def _boolean(self, node: exp.Boolean) -> str:
        return "boolean"

    def _null(self, node: exp.Null) -> str:
        return "null"

    def _neg(self, node: exp.Neg) -> str | None:
        if isinstance(node.this, exp.Literal) and not node.this.is_string:
            return "number"
        self._reject(node)
        return None

    def _logical(self, node: exp.Expression) -> str:
        for operand in (node.this, node.args.get("expression")):
            if operand is not None:
                self.condition(operand)
        return "boolean"

    def _compare(self, node: exp.Binary) -> str:
        self.comparable(node, node.this, node.expression)
        return "boolean"

    def comparable(self, op: exp.Expression, a: exp.Expression, b: exp.Expression) -> None:
        """``a`` and ``b`` can be compared (the problem is reported at the operator ``op``)."""
        ta, tb = self.typeof(a), self.typeof(b)
        if ta is None or tb is None:
            return
        if "null" in (ta, tb):
            if not isinstance(op, (exp.NullSafeEQ, exp.NullSafeNEQ, exp.Coalesce)):
                self.fail(
                    op,
                    "a comparison with NULL is never true",
                    "write 'x IS NULL' or 'x IS NOT NULL'",
                )
            return
        if ta == tb:
            return
        for typ, other in ((ta, b), (tb, a)):
            if isinstance(other, exp.Literal) and other.is_string and typ == "timestamp":
                # DuckDB would read the text in the session's time zone (UTC), not the policy's.
                self.fail(
                    op,
                    f"a timestamp cannot be compared with a written date or time ({other.sql()})",
                    "conditions do not know the policy's time zone; compare two timestamp columns or test IS NULL",
                )
                return
        self.fail(
            op,
            f"cannot compare {self.snippet(a)} ({_TYPE_NAMES[ta]}) with {self.snippet(b)} ({_TYPE_NAMES[tb]})",
            "compare values of the same kind; write text in single quotes",
        )

    def _is(self, node: exp.Is) -> str:
        target = node.expression
        typ = self.typeof(node.this)
        if isinstance(target, exp.Boolean):
            if typ not in (None, "boolean"):
                self.fail(node, f"{self.snippet(node.this)} is {_TYPE_NAMES[typ]}, not true/false")
        elif not isinstance(target, exp.Null):
            self.fail(
                target, "IS is followed by NULL, NOT NULL, TRUE or FALSE", "use = to compare values"
            )
        return "boolean"

    def _in(self, node: exp.In) -> str:
        if not node.expressions:
            self.fail(node, "the IN list is empty", "list at least one value: x IN ('a', 'b')")
        for item in node.expressions:
            if isinstance(item, exp.Null):
                self.fail(item, "NULL in an IN list never matches", "add: OR x IS NULL")
            elif not isinstance(item, (exp.Literal, exp.Neg, exp.Boolean)):
                self.fail(item, "IN takes a list of values", "write x IN ('a', 'b')")
            else:
                self.comparable(item, node.this, item)
        return "boolean"

    def _between(self, node: exp.Between) -> str:
        self.comparable(node, node.this, node.args["low"])
        self.comparable(node, node.this, node.args["high"])
        return "boolean"

    def _like(self, node: exp.Like | exp.ILike) -> str:
        self.expect(node.this, "text")
        self.expect(node.expression, "text")
        return "boolean"

    def expect(self, node: exp.Expression, typ: str) -> None:
        actual = self.typeof(node)
        if actual not in (None, typ, "null"):
            self.fail(
                node, f"{self.snippet(node)} is {_TYPE_NAMES[actual]}, expected {_TYPE_NAMES[typ]}"
            )

    def _function(self, node: exp.Func) -> str:
        fn = _FUNCTIONS[type(node)]
        for param, key in zip(fn.params, ("this", "expression"), strict=False):
            self.expect(node.args[key], param)
        return fn.result

    def _regexp(self, node: exp.RegexpLike) -> str:
        self.expect(node.this, "text")
        pattern, flags = node.expression, node.args.get("flag")
        options = ""
        if flags is not None:
            if not (
                isinstance(flags, exp.Literal)
                and flags.is_string
                and set(flags.this) <= _REGEX_OPTIONS
            ):
                self.fail(
                    flags, "regexp_matches options are a text of the letters c, i, l, m, n, p, s"
                )
            else:
                options = flags.this
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            self.fail(
                pattern,
                "the pattern of regexp_matches must be written as text",
                "e.g. regexp_matches(subject, 'backup|firewall')",
            )
        elif "l" not in options:
            self.regex(pattern, options)
        return "boolean"

    def regex(self, node: exp.Literal, options: str = "") -> None:
        if problem := regex_problem(node.this, options):
            self.fail(node, f"invalid regular expression '{node.this}': {problem}", _REGEX_HINT)

    def _coalesce(self, node: exp.Coalesce) -> str | None:
        args = [node.this, *node.expressions]
        types = [self.typeof(a) for a in args]
        known = [(t, a) for t, a in zip(types, args, strict=True) if t not in (None, "null")]
        for typ, arg in known[1:]:
            if typ != known[0][0]:
                self.fail(arg, f"coalesce mixes {_TYPE_NAMES[known[0][0]]} and {_TYPE_NAMES[typ]}")
        if None in types:
            return None
        return known[0][0] if known else "null"

    def _reject(self, node: exp.Expression) -> None:
        """Explain why a node outside the whitelist is refused."""
        if isinstance(node, (exp.Query, exp.Subquery, exp.Exists)):
            self.fail(
                self._select_keyword(node),
                "subqueries are not allowed",
                "a condition tests one ticket's columns; it cannot run queries",
            )
        elif isinstance(node, exp.Func) and "start" in node.meta:  # written as name(...)
            name = self.text[node.meta["start"] : node.meta["end"] + 1]
            hint = (
                did_you_mean(name.lower(), FUNCTIONS)
                or f"allowed functions: {', '.join(FUNCTIONS)}"
            )
            self.fail(node, f"function '{name}' is not allowed", hint)
        elif isinstance(node, exp.Binary):
            at = self.offset(node)
            op = next((t.text for t in self.tokens if t.start == at), node.key)
            self.fail(at, f"operator '{op}' is not allowed", _OPERATORS_HINT)
        elif isinstance(node, exp.Star):
            self.fail(node, "'*' is not allowed", "name the column, e.g. category")
        elif isinstance(node, (exp.Placeholder, exp.Parameter)):
            self.fail(
                node, "parameters are not allowed", "write the value itself, e.g. 'service_fault'"
            )
        elif isinstance(node, exp.Alias):
            self.fail(
                node.args["alias"],
                "unexpected text after the condition",
                "is an AND, OR or a quote missing?",
            )
        elif isinstance(node, exp.Cast):  # also TRY_CAST, x::T and typed literals (DATE '…')
            at = self.offset(node)
            before = [t for t in self.tokens if t.start < at][-2:]
            if (
                len(before) == 2
                and before[1].token_type == TokenType.L_PAREN
                and before[0].text.lower() in ("cast", "try_cast")
            ):
                at = before[0].start  # point at CAST( rather than at its operand
            self.fail(
                at,
                "casts are not allowed",
                "compare a column with a value of its own kind: 'text', a number, true/false",
            )
        else:
            self.fail(node, f"{self.snippet(node)} is not allowed in a condition", _SYNTAX_HINT)

    def _select_keyword(self, node: exp.Expression) -> int:
        """The SELECT (or WITH) that starts a subquery: sqlglot records no position for it."""
        span = _span(node)
        before = span[0] if span else len(self.text)
        starts = [
            t.start for t in self.tokens if t.token_type in (TokenType.SELECT, TokenType.WITH)
        ]
        return max((s for s in starts if s <= before), default=min(starts, default=0))


def _handlers() -> dict[type[exp.Expression], tuple[frozenset[str], Callable[..., str | None]]]:
    """The whitelist: node type -> (the node's arguments that may be set, its type checker)."""
    c = _Checker
    table: list[tuple[str, Callable[..., str | None], tuple[type[exp.Expression], ...]]] = [
        ("this", c._paren, (exp.Paren,)),
        ("this table db catalog", c._column, (exp.Column,)),  # a.b.c: "unknown column"
        ("this is_string", c._literal, (exp.Literal,)),
        ("this", c._boolean, (exp.Boolean,)),
        ("", c._null, (exp.Null,)),
        ("this", c._neg, (exp.Neg,)),
        ("this expression", c._logical, (exp.And, exp.Or)),
        ("this", c._logical, (exp.Not,)),
        ("this expression", c._compare, _COMPARISONS),
        ("this expression", c._is, (exp.Is,)),
        ("this expressions", c._in, (exp.In,)),
        ("this low high", c._between, (exp.Between,)),
        ("this expression negate", c._like, (exp.Like, exp.ILike)),
        ("this expression flag", c._regexp, (exp.RegexpLike,)),
        ("this expressions", c._coalesce, (exp.Coalesce,)),
        ("this", c._function, tuple(t for t, f in _FUNCTIONS.items() if len(f.params) == 1)),
        (
            "this expression",
            c._function,
            tuple(t for t, f in _FUNCTIONS.items() if len(f.params) == 2),
        ),
    ]
    return {
        t: (frozenset(allowed.split()), method) for allowed, method, types in table for t in types
    }


_HANDLERS = _handlers()
