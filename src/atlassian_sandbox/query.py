"""The grammar JQL and CQL share: clauses joined by AND/OR/NOT, parentheses, ORDER BY.

    query   := [expr] [ORDER BY field [ASC|DESC] {, field [ASC|DESC]}]
    expr    := term {OR term};  term := unary {AND unary}
    unary   := NOT unary | "(" expr ")" | field op
    op      := (= | != | ~ | !~ | < | <= | > | >=) value | [NOT] IN "(" value {, value} ")"
             | IS [NOT] (EMPTY | NULL)
    value   := "quoted" | 'quoted' | word | word "(" [value {, value}] ")"

Each language evaluates the tree with its own fields (`jql.py`, `cql.py`); relative dates are here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

OPERATORS = ("!=", "!~", "<=", ">=", "=", "~", "<", ">")
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
WORD = re.compile(r"[A-Za-z0-9_.\-@*/:+\[\]$#]+")
VALID_OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"


class QueryError(ValueError):
    """A query that does not parse; `position` is the 1-based character, None at the end of the query."""

    def __init__(self, message: str, position: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | ( | ) | , | end
    text: str
    position: int  # 1-based

    @property
    def keyword(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in KEYWORDS else None


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False
    function: str | None = None  # lower-cased name for `name(args)`
    args: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.quoted and self.function is None and self.text.lower() in ("empty", "null")


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != ~ !~ < <= > >= in "not in" is "is not"
    values: tuple[Value, ...]
    position: int


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    parts: tuple[Node, ...]


Node = Clause | Not | BoolOp


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass
class Query:
    where: Node | None
    order: list[SortKey] = field(default_factory=list)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i + 1))
            i += 1
        elif ch in "\"'":
            end = i + 1
            chars: list[str] = []
            while end < len(text) and text[end] != ch:
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                chars.append(text[end])
                end += 1
            if end >= len(text):
                raise QueryError(f"Missing closing quote for the string starting at character {i + 1}.", i + 1)
            tokens.append(Token("string", "".join(chars), i + 1))
            i = end + 1
        elif (op := next((o for o in OPERATORS if text.startswith(o, i)), None)) is not None:
            tokens.append(Token("op", op, i + 1))
            i += len(op)
        elif (match := WORD.match(text, i)) is not None:
            tokens.append(Token("word", match.group(), i + 1))
            i = match.end()
        else:
            raise QueryError(f"The character '{ch}' is a reserved character.", i + 1)
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str, token: Token | None = None) -> QueryError:
        token = token or self.peek
        if token.kind == "end":
            return QueryError(f"Expecting {expected} before the end of the query.", None)
        return QueryError(f"Expecting {expected} but got '{token.text}'.", token.position)

    def parse(self) -> Query:
        where = None
        if self.peek.kind != "end" and self.peek.keyword != "order":
            where = self.expr()
        order: list[SortKey] = []
        if self.peek.keyword == "order":
            self.take()
            if self.peek.keyword != "by":
                raise self.fail("'BY'")
            self.take()
            order.append(self.sort_key())
            while self.peek.kind == ",":
                self.take()
                order.append(self.sort_key())
        if self.peek.kind != "end":
            raise self.fail("either 'OR' or 'AND'")
        return Query(where, order)

    def sort_key(self) -> SortKey:
        token = self.take()
        if token.kind not in ("word", "string") or token.keyword in ("asc", "desc"):
            raise self.fail("a field name", token)
        descending = False
        if self.peek.keyword in ("asc", "desc"):
            descending = self.take().keyword == "desc"
        return SortKey(token.text, descending)

    def expr(self) -> Node:
        parts = [self.term()]
        while self.peek.keyword == "or":
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def term(self) -> Node:
        parts = [self.unary()]
        while self.peek.keyword == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def unary(self) -> Node:
        if self.peek.keyword == "not":
            self.take()
            return Not(self.unary())
        if self.peek.kind == "(":
            self.take()
            inner = self.expr()
            if self.peek.kind != ")":
                raise self.fail("')'")
            self.take()
            return inner
        return self.clause()

    def clause(self) -> Clause:
        token = self.take()
        if token.kind not in ("word", "string") or token.keyword is not None:
            raise self.fail("a field name", token)
        op_token = self.peek
        if op_token.kind == "op":
            self.take()
            return Clause(token.text, op_token.text, (self.value(),), token.position)
        keyword = op_token.keyword
        if keyword == "in" or (keyword == "not" and self.tokens[self.i + 1].keyword == "in"):
            self.i += 1 if keyword == "in" else 2
            return Clause(token.text, "in" if keyword == "in" else "not in", self.value_list(), token.position)
        if keyword == "is":
            self.take()
            op = "is"
            if self.peek.keyword == "not":
                self.take()
                op = "is not"
            if self.peek.keyword not in ("empty", "null"):
                raise self.fail("'EMPTY' or 'NULL'")
            return Clause(token.text, op, (Value(self.take().text),), token.position)
        raise QueryError(
            f"Expecting operator but got '{op_token.text}'. The valid operators are {VALID_OPERATORS}.",
            op_token.position,
        ) if op_token.kind != "end" else self.fail("an operator")

    def value_list(self) -> tuple[Value, ...]:
        """`(a, b, c)`, or a function that stands for a list, like `openSprints()`."""
        if self.peek.kind == "word" and self.tokens[self.i + 1].kind == "(":
            return (self.value(),)
        if self.peek.kind != "(":
            raise self.fail("'('")
        self.take()
        values = [self.value()]
        while self.peek.kind == ",":
            self.take()
            values.append(self.value())
        if self.peek.kind != ")":
            raise self.fail("')'")
        self.take()
        return tuple(values)

    def value(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return Value(token.text, quoted=True)
        if token.kind != "word" or token.keyword in ("and", "or", "order"):
            raise self.fail("either a value, list or function", token)
        if self.peek.kind == "(":
            self.take()
            args: list[str] = []
            while self.peek.kind != ")":
                arg = self.take()
                if arg.kind not in ("word", "string"):
                    raise self.fail("a function argument", arg)
                args.append(arg.text)
                if self.peek.kind == ",":
                    self.take()
                elif self.peek.kind != ")":
                    raise self.fail("')'")
            self.take()
            return Value(token.text, function=token.text.lower(), args=tuple(args))
        return Value(token.text)


def parse(text: str) -> Query:
    return Parser(text).parse()


RELATIVE = re.compile(r"^([+-]?)((?:\d+[yMwdhm]\s*)+)$")
PERIOD_PART = re.compile(r"(\d+)([yMwdhm])")
ABSOLUTE = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
UNIT_SECONDS = {"y": 365 * 86400, "M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
DATE_FUNCTIONS = {"now", "startofday", "endofday", "startofweek", "endofweek", "startofmonth", "endofmonth"}


def relative(text: str, now: datetime) -> datetime | None:
    """A period like `-7d`, `4w 2d` or `+1h` from now; None if `text` is not one."""
    match = RELATIVE.match(text.strip())
    if not match:
        return None
    sign, period = match.groups()
    seconds = sum(int(amount) * UNIT_SECONDS[unit] for amount, unit in PERIOD_PART.findall(period))
    try:
        delta = timedelta(seconds=seconds)
        return now - delta if sign == "-" else now + delta
    except OverflowError:
        return None


def moment(value: Value, now: datetime) -> datetime | None:
    """The instant a date value names: `-7d`, `"2024-01-31"`, `now()`, `startOfDay("-1d")`..."""
    if value.function is not None:
        if value.function not in DATE_FUNCTIONS:
            return None
        base = now
        if value.args:
            shifted = relative(value.args[0], now)
            if shifted is None:
                return None
            base = shifted
        day = base.replace(hour=0, minute=0, second=0, microsecond=0)
        week = day - timedelta(days=day.weekday())
        month = day.replace(day=1)
        return {
            "now": base,
            "startofday": day,
            "endofday": day + timedelta(days=1, microseconds=-1),
            "startofweek": week,
            "endofweek": week + timedelta(days=7, microseconds=-1),
            "startofmonth": month,
            "endofmonth": (month + timedelta(days=32)).replace(day=1) - timedelta(microseconds=1),
        }[value.function]
    found = relative(value.text, now)
    if found is not None:
        return found
    for fmt in ABSOLUTE:
        try:
            return datetime.strptime(value.text.strip(), fmt).replace(tzinfo=now.tzinfo)
        except ValueError:
            continue
    return None


def compare(op: str, left: float | datetime, right: float | datetime) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right  # type: ignore[operator]
    if op == "<=":
        return left <= right  # type: ignore[operator]
    if op == ">":
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]


def contains_terms(haystack: str, needle: str) -> bool:
    """Text search as `~`: every word of the needle appears in the haystack (trailing * allowed)."""
    text = haystack.lower()
    terms = [t.strip("*?\"'") for t in needle.lower().split()]
    return all(t in text for t in terms if t)
