"""JQL and CQL text: where a query's ORDER BY clause starts, and narrowing a query to allowed scopes.

Both languages quote strings in double or single quotes, and a backslash escapes the next character
(`\\"`, `\\'`, `\\\\`) both inside strings and in unquoted words. Only the shape of a query is read
here, never its meaning, and everything is matched on the original text (upper-casing `ß` gives two
characters, so positions found in `text.upper()` would not fit `text`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from legacy_stdio.errors import BadArguments

# A whole-word ORDER BY, any case. Only ASCII whitespace separates the words: failing to split a query
# merely leaves ORDER BY inside the wrapper's parentheses, where the server refuses it.
_ORDER_BY = re.compile(r"(?<!\w)order[ \t\r\n\f\v]+by(?!\w)", re.IGNORECASE)


class Split(NamedTuple):
    """A query as (condition, ORDER BY clause), and whether the condition can be put in parentheses."""

    condition: str
    order: str
    balanced: bool


def split_query(query: str) -> Split:
    """Split at the first ORDER BY outside strings and parentheses; `balanced` is False when the
    parentheses outside strings do not balance or a string is left unterminated."""
    at, balanced = _scan(query)
    condition, order = (query.strip(), "") if at is None else (query[:at].strip(), query[at:].strip())
    # Stripping can drop an escaped space and leave a trailing backslash, which would escape the
    # wrapper's closing parenthesis: the condition itself must scan clean too.
    return Split(condition, order, balanced and _scan(condition)[1])


def split_order_by(query: str) -> tuple[str, str]:
    """Split `... ORDER BY ...` into (condition, order clause), at the first top-level ORDER BY.

    Neither an ORDER BY in a string, nor an escaped quote, nor an ORDER BY inside parentheses counts.
    """
    condition, order, _ = split_query(query)
    return condition, order


def narrow(split: Split, scopes: list[str], *, argument: str, language: str, allowed: str) -> str:
    """`scope AND ... AND (condition) ORDER BY ...`: every scope holds whatever the condition says.

    Refuses (BadArguments) a query whose parentheses do not balance or whose string is unterminated,
    since its text could close the wrapper's parenthesis and escape the scopes.
    """
    condition = split.condition
    if scopes:
        if not split.balanced:
            raise BadArguments(
                f"{argument}: the {language} has unbalanced parentheses or an unterminated string, so it "
                f"cannot be limited to the allowed {allowed}"
            )
        condition = " AND ".join([*scopes, f"({condition})"] if condition else scopes)
    return f"{condition} {split.order}".strip()


def _scan(query: str) -> tuple[int | None, bool]:
    """Where the first top-level ORDER BY outside strings starts (None without one), and whether
    the parentheses outside strings balance with every string closed and no backslash left dangling."""
    quote: str | None = None
    escaped = False
    escaped_at = -2  # the last character a backslash escaped: it belongs to the word before it
    depth = 0
    order: int | None = None
    for i, ch in enumerate(query):
        if escaped:
            escaped, escaped_at = False, i
        elif ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return order, False
        elif order is None and depth == 0 and escaped_at != i - 1 and _ORDER_BY.match(query, i):
            order = i
    return order, depth == 0 and quote is None and not escaped
