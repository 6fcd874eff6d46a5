"""What the "did you mean" hints know about the products' column names.

A user who points the audit at a raw export gets told which canonical column a product's column
would feed, how its values must be read (a duration's unit is never guessed), and which adapter
reads the file as it is.
"""

from __future__ import annotations

#: product column (normalised: lower case, trimmed) -> (canonical column, how, products)
PRODUCT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "ticket#": ("ticket_id", "", "zammad, znuny"),
    "number": ("ticket_id", "the ticket number, not the internal id", "zammad"),
    "tn": ("ticket_id", "", "znuny"),
    "issue": ("ticket_id", "'Bug #1: subject' holds the number", "redmine"),
    "ticket": ("ticket_id", "", "redmine"),
    "issueid": ("ticket_id", "an internal id: the issue key is needed", "jira"),
    "timespentseconds": ("minutes", "via seconds (÷ 60)", "jira"),
    "timespent": ("minutes", "a Jira duration such as 3h 20m", "jira"),
    "time_spent": ("minutes", "hh:mm", "freshdesk"),
    "time_unit": ("minutes", "time units × minutes per unit", "zammad, znuny"),
    "time units": ("minutes", "time units × minutes per unit", "zammad"),
    "duration": ("minutes", "h:mm or decimal hours, not minutes", "kimai"),
    "dauer": ("minutes", "h:mm or decimal hours, not minutes", "kimai"),
    "hours": ("minutes", "decimal hours (0.33 = 20 minutes), not minutes", "redmine"),
    "stunden": ("minutes", "decimal hours (0,33 = 20 minutes), not minutes", "redmine"),
    "from": ("started_at", "a clock time with the Date column", "kimai"),
    "von": ("started_at", "a clock time with the Datum column", "kimai"),
    "started": ("started_at", "", "jira"),
    "start_time": ("started_at", "", "freshdesk"),
    "create_time": ("started_at", "a booking time: the start needs a rule", "znuny"),
    "user": ("agent", "", "kimai, redmine"),
    "benutzer": ("agent", "", "kimai, redmine"),
    "agent - login": ("agent", "", "zammad"),
    "created_by_id": ("agent", "", "zammad"),
    "agent_id": ("agent", "", "freshdesk"),
    "title": ("subject", "", "zammad"),
    "created_at": ("opened_at", "", "zammad"),
    "close_at": ("resolved_at", "", "zammad"),
    "priority_id": ("priority", "1 low, 2 normal, 3 high", "zammad"),
    "group_id": ("category", "via a value map in the policy's mappings", "zammad"),
    "group": ("category", "via a value map in the policy's mappings", "zammad"),
    "queue": ("category", "via a value map in the policy's mappings", "znuny"),
}

#: columns whose presence names the product (normalised)
SIGNATURES: dict[str, tuple[str, ...]] = {
    "zammad": ("ticket#", "time units", "time_unit", "number", "article_ids", "group_id"),
    "znuny": ("tn", "create_time", "time_unit"),
    "jira": ("timespentseconds", "timespent", "issueid"),
    "freshdesk": ("time_spent", "executed_at", "agent_id"),
    "kimai": ("dauer", "von", "bis", "duration", "from", "to"),
    "redmine": ("issue", "hours", "stunden"),
}


def product_hint(missing: str, present: list[str]) -> str:
    """A hint for a missing canonical column from the product columns in ``present``."""
    for name in present:
        known = PRODUCT_COLUMNS.get(name)
        if known and known[0] == missing:
            how = f" ({known[1]})" if known[1] else ""
            return f"for '{missing}': '{name}' is {known[2]}'s column for it{how}"
    return ""


def guess_product(present: list[str]) -> str:
    """'zammad' etc. when the columns look like that product's export, else ''."""
    best, score = "", 0
    for product, names in SIGNATURES.items():
        n = sum(1 for name in names if name in present)
        if n > score:
            best, score = product, n
    return best if score >= 2 else ""
