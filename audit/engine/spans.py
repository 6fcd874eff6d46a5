"""Spans: how a large result is cut into pieces that are each read, sorted and written alone.

Every result table of a run sorts by month, then customer. A span is the rows of some
consecutive months, or of a range of one month's customers; taken in order, the spans are the
table in order. The export streams a table span by span (:mod:`audit.engine.render`), and the
SLA messages are written a span at a time in that order (:mod:`audit.engine.sla`), so that a
span's filter finds them stored together.
"""

from __future__ import annotations

from typing import Any

#: A span: the rows one query reads, sorts and hands on — the months ``first`` to ``last``
#: (``(first, last, None, None)``), or, of a month that alone has more rows than a span may
#: hold (:func:`cut_spans`), a range of its customers ``(month, month, lo, hi)``: from ``lo``
#: (None: the first) up to ``hi``, excluded (None: to the last, with the rows without a
#: customer, which sort last). Every table sorts by month, then customer.
Span = tuple[str | None, str | None, str | None, str | None]


def span_filter(month: str, customer: str) -> str:
    """SQL: the rows of the span given as the parameters ``$first``, ``$last``, ``$lo`` and
    ``$hi`` (:func:`span_params`), by their ``month`` and ``customer`` columns."""
    return (f"{month} BETWEEN $first AND $last"
            f" AND ($lo IS NULL OR {customer} >= $lo OR {customer} IS NULL)"
            f" AND ($hi IS NULL OR {customer} < $hi)")


def counts_sql(relation: str, where: str) -> str:
    """SQL: the rows of ``relation`` (``where`` they hold) per month and customer, in the
    tables' order — the counts :func:`cut_spans` cuts."""
    return (f"SELECT month, customer_id, count(*) FROM {relation} WHERE {where}"
            " GROUP BY month, customer_id ORDER BY month, customer_id NULLS LAST")


def cut_spans(counts: list[tuple[str, str | None, int]], limit: int) -> list[Span]:
    """The spans of a table whose rows per month and customer are ``counts`` (in the tables'
    order: month, then customer with NULL last): consecutive months together up to ``limit``
    rows, a month with more alone, cut into ranges of customers of up to ``limit`` rows (a
    customer with more alone); ``[(None, None, None, None)]`` (no rows, the columns still)
    when there are no months."""
    months: dict[str, list[tuple[str | None, int]]] = {}
    for month, customer, n in counts:
        months.setdefault(month, []).append((customer, n))
    sizes = [(month, sum(n for _c, n in rows)) for month, rows in months.items()]
    spans: list[Span] = []
    first, rows = None, 0
    for i, (month, n) in enumerate(sizes):
        if n > limit:  # after a span closed: the next month did not fit beside it
            spans.extend(_customer_spans(month, months[month], limit))
            continue
        if first is None:
            first, rows = month, 0
        rows += n
        nxt = sizes[i + 1][1] if i + 1 < len(sizes) else None
        if nxt is None or rows + nxt > limit:
            spans.append((first, month, None, None))
            first = None
    return spans or [(None, None, None, None)]


def _customer_spans(month: str, customers: list[tuple[str | None, int]], limit: int) -> list[Span]:
    """One ``month`` cut into ranges of its ``customers`` (with their row counts, in order) of
    up to ``limit`` rows; the rows without a customer (last) go with the last range."""
    bounds: list[str] = []  # the first customer of each range after the first
    rows = 0
    for customer, n in customers:
        if rows and rows + n > limit and customer is not None:
            bounds.append(customer)
            rows = 0
        rows += n
    return [(month, month, lo, hi) for lo, hi in zip([None, *bounds], [*bounds, None], strict=True)]


#: Every month a run can hold (``month`` is ``YYYY-MM`` text).
ALL_MONTHS: Span = ("0000-01", "9999-12", None, None)


def span_params(span: Span) -> dict[str, str | None]:
    """The parameters of :func:`span_filter` for ``span``."""
    return dict(zip(("first", "last", "lo", "hi"), span, strict=True))


def span_parts(con: Any, table: str, alias: str, where: str,
               limit: int) -> list[tuple[str, dict[str, str | None] | None]]:
    """The rows of ``table`` (read as ``alias``) that ``where`` holds, cut into spans of up to
    ``limit`` rows (:func:`cut_spans`): a condition with its parameters per span, in the
    tables' order, for a statement to run once per part (:func:`audit.db.write_in_parts`);
    ``[(where, None)]`` when they fit in one."""
    spans = cut_spans(con.execute(counts_sql(f"{table} {alias}", where)).fetchall(), limit)
    if len(spans) == 1:
        return [(where, None)]
    condition = f"{where} AND {span_filter(f'{alias}.month', f'{alias}.customer_id')}"
    return [(condition, span_params(span)) for span in spans]
