"""The JSON codec: a message's id found where it is written and replaced in place; a batch split
into its bytes; a large answer checked whole while only its id is read; messages kept at their size.

`locate_id` must find exactly the top-level id (type-exact), wherever and however it is written;
`replace_id` must change only the id's bytes. Examples first, then properties over generated JSON
written in several styles, with the writer keeping track of where it put every byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import codec
from bridge.codec import IdSpan

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def span_of(data: bytes, written: bytes, occurrence: int = -1) -> IdSpan:
    """The span of the `occurrence`-th `written` in `data` (a helper for hand-written examples)."""
    starts = [i for i in range(len(data)) if data.startswith(written, i)]
    start = starts[occurrence]
    value = json.loads(written)
    return IdSpan(value, start, start + len(written))


def same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


# ----- locate_id: examples ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b'{"id":7,"method":"ping"}',  # Python SDKs: first
    b'{"jsonrpc":"2.0","id":7,"result":{}}',  # after "jsonrpc"
    b'{"jsonrpc":"2.0","result":{},"id":7}',  # TypeScript SDKs: last
    b'{"jsonrpc":"2.0","id":7}\n',  # last, with a line end
    b'{"result":{},"id":7,"jsonrpc":"2.0"}',  # in the middle: the scan
    b' {\n  "jsonrpc" : "2.0" ,\n  "id" : 7 ,\n  "result" : { }\n}\n',  # spaced out
    b'{"result":{"id":8},"\\u0069d":7,"jsonrpc":"2.0"}',  # an escaped key
    b'{"jsonrpc":"2.0","i\\u0064":7}',  # an escaped key, last
])
def test_the_top_level_id_is_found_where_it_is_written(data: bytes) -> None:
    span = codec.locate_id(data, 7)
    assert span == span_of(data, b"7")
    assert span is not None and same(span.value, 7)


def test_an_integer_beyond_64_bits_is_found_and_replaced_without_touching_the_rest() -> None:
    big = 2**70 + 1
    data = b'{"result":{"n":123456789012345678901234567890,"x":1.50},"id":%d}' % big
    span = codec.locate_id(data, big)
    assert span == span_of(data, b"%d" % big)
    assert codec.replace_id(data, span, 3) == b'{"result":{"n":123456789012345678901234567890,"x":1.50},"id":3}'
    assert codec.replace_id(b'{"id":3}', IdSpan(3, 6, 7), big) == b'{"id":%d}' % big


def test_what_orjson_cannot_hold_is_read_and_written_by_the_fallback() -> None:
    assert codec.loads(b'{"id":18446744073709551617,"x":1e400}') == {"id": 2**64 + 1, "x": float("inf")}
    assert codec.dumps({"id": 2**64 + 1}) == b'{"id":18446744073709551617}'
    assert codec.peek_id(b'{"jsonrpc":"2.0","id":' + b"9" * 2542 + b',"method":"ping"}') == int("9" * 2542)
    for not_json in (b"NaN", b'{"a":Infinity}', b"[1,]", b"[" * 2000 + b"]" * 2000):
        with pytest.raises(codec.DecodeError):
            codec.loads(not_json)


def test_a_string_id_is_compared_by_its_decoded_value() -> None:
    data = b'{"jsonrpc":"2.0","id":"\\u0031","result":null}'
    span = codec.locate_id(data, "1")
    assert span == IdSpan("1", data.index(b'"\\u0031"'), data.index(b',"result"'))


def test_a_string_id_with_escaped_quotes_is_replaced_whole() -> None:
    data = b'{"id":"a\\"b\\\\","result":{}}'
    span = codec.locate_id(data, 'a"b\\')
    assert span is not None
    assert codec.replace_id(data, span, 9) == b'{"id":9,"result":{}}'


def test_a_long_string_id_at_the_end_is_found() -> None:
    long_id = "é" + "x" * 1000
    data = json.dumps({"result": {}, "id": long_id}, ensure_ascii=False).encode()
    span = codec.locate_id(data, long_id)
    assert span is not None and span.end == len(data) - 1


def test_minus_zero_is_the_integer_0() -> None:
    data = b'{"id":-0,"result":1}'
    assert codec.locate_id(data, 0) == IdSpan(0, 6, 8)


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"id":1,"result":{}}', "1"),
    (b'{"id":"1","result":{}}', 1),
    (b'{"id":1,"result":{}}', True),
    (b'{"id":1,"result":{}}', 1.0),
    (b'{"id":1.0,"result":{}}', 1),
    (b'{"id":1e0,"result":{}}', 1),
    (b'{"id":true,"result":{}}', True),
    (b'{"id":true,"result":{}}', 1),
    (b'{"id":null,"result":{}}', None),
    (b'{"id":[1],"result":{}}', 1),
    (b'{"id":{"id":1},"result":{}}', 1),
    (b'{"id":2,"result":{}}', 1),
])
def test_an_id_of_another_value_or_type_is_not_found(data: bytes, expected: object) -> None:
    assert codec.locate_id(data, expected) is None


@pytest.mark.parametrize("data", [
    b'{"jsonrpc":"2.0","result":{"id":1}}',
    b'{"result":{"content":[{"id":1}]},"jsonrpc":"2.0"}',
    b'{"params":{"id":1},"method":"x"}',
    b'{"result":"{\\"id\\":1}"}',  # inside a string
    b'{"result":",\\"id\\":1}"}',
    b'{"xid":1,"ID":1,"id ":1,"\\\\u0069d":1}',  # names that are not `id`
    b'[{"id":1}]',  # not an object
    b'{"a":[1,{"b":{"id":1}}],"c":[{"id":1}]}',
])
def test_no_top_level_id_means_none_even_with_nested_ids(data: bytes) -> None:
    assert codec.locate_id(data, 1) is None


@pytest.mark.parametrize("data", [
    b'{"id":1,"result":{"id":1}}',
    b'{"result":{"id":1},"id":1}',
    b'{"result":[{"id":1}],"id":1,"x":{"id":1}}',
])
def test_a_nested_id_with_the_same_value_is_not_taken_for_the_top_level_one(data: bytes) -> None:
    span = codec.locate_id(data, 1)
    assert span is not None
    replaced = json.loads(codec.replace_id(data, span, "new"))
    assert replaced["id"] == "new"
    assert json.dumps(replaced).count('"id": 1') == json.dumps(json.loads(data)).count('"id": 1') - 1


def test_of_duplicate_top_level_ids_with_different_values_the_last_is_found() -> None:
    data = b'{"id":1,"result":{},"id":2}'
    assert codec.locate_id(data, 2) == span_of(data, b"2")
    data = b'{"id":1,"id":2,"result":{}}'
    assert codec.locate_id(data, 2) == span_of(data, b"2")


def test_of_duplicate_top_level_ids_with_the_same_value_the_last_is_found() -> None:
    """The last one is the one a parser keeps: replacing the first leaves the old id in effect."""
    data = b'{"id":1,"id":1}'
    span = codec.locate_id(data, 1)
    assert span == span_of(data, b"1", occurrence=-1)
    assert json.loads(codec.replace_id(data, span, "c"))["id"] == "c"


def test_replace_id_writes_the_new_id_as_compact_json() -> None:
    data = b'{ "id" : 5 , "result" : [ 1 , 2 ] }'
    span = codec.locate_id(data, 5)
    assert span is not None
    assert codec.replace_id(data, span, 'a "quoted" é') == b'{ "id" : "a \\"quoted\\" \xc3\xa9" , "result" : [ 1 , 2 ] }'
    assert codec.replace_id(data, span, -12) == b'{ "id" : -12 , "result" : [ 1 , 2 ] }'


# ----- split_array: examples -------------------------------------------------------------------


def test_a_batch_is_split_into_the_bytes_its_members_were_written_as() -> None:
    data = b'[ {"id":1,"method":"a"} ,\n{"id" : 2, "params":[1,{"x":"],["}]}, 3,"s,t" , [] ]'
    assert codec.split_array(data) == [
        b'{"id":1,"method":"a"}', b'{"id" : 2, "params":[1,{"x":"],["}]}', b"3", b'"s,t"', b"[]"]


def test_an_empty_batch_has_no_members() -> None:
    assert codec.split_array(b"[]") == []
    assert codec.split_array(b" [ \n ] ") == []


# ----- head_of_large: its contract -------------------------------------------------------------

BIG = "x" * (codec.LARGE_LINE + 10)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}}),  # Python SDKs: id first
    compact({"result": {"text": BIG}, "jsonrpc": "2.0", "id": 7}),  # TypeScript SDKs: id last
    b'  { "jsonrpc" : "2.0" , "id" : 7 , "error" : {"code": 1, "message": "' + BIG.encode() + b'"} } ',
])
def test_a_large_answer_gets_its_id_found_and_replaced_in_place(line: bytes) -> None:
    span = codec.head_of_large(line)
    assert span is not None and same(span.value, 7)
    replaced = codec.replace_id(line, span, "client-1")
    expected = json.loads(line)
    expected["id"] = "client-1"
    assert json.loads(replaced) == expected


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "result": {"id": 7, "text": BIG}, "id": "7"}),  # a string id
    compact({"jsonrpc": "2.0", "result": {"text": BIG, "id": 7}}),  # no top-level id at all
    compact({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage", "params": {"t": BIG}}),
    compact({"jsonrpc": "2.0", "id": 7, "result": 1, "error": {"t": BIG}}),  # both: not an answer
    compact({"result": {"t": BIG}, "id": 7, "jsonrpc": "2.0"}),  # id neither first nor last
    compact([{"jsonrpc": "2.0", "id": 7, "result": BIG}]),
])
def test_any_other_large_line_takes_the_ordinary_path(line: bytes) -> None:
    assert codec.head_of_large(line) is None


@pytest.mark.parametrize("line", [
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}})[:-1],
    compact({"jsonrpc": "2.0", "id": 7, "result": {"text": BIG}}).replace(b"xxxx", b"x\x01xx", 1),
    compact({"jsonrpc": "2.0", "id": 7, "result": {"ok": True, "text": BIG}}).replace(b"true", b"ture"),
])
def test_a_large_line_that_is_not_json_is_refused(line: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        codec.head_of_large(line)


@pytest.mark.parametrize("size", [100, 3000, 70000])
def test_dumped_messages_hold_no_more_memory_than_their_size(size: int) -> None:
    """Messages wait in queues and the replay log: a 100-byte one must not pin a 4 KiB buffer."""
    import tracemalloc

    value = {"jsonrpc": "2.0", "id": 1, "result": {"text": "x" * size}}
    tracemalloc.start()
    try:
        kept = [codec.dumps(value) for _ in range(20)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 20 * (len(kept[0]) + 200)


# ----- generated JSON, written in several styles -----------------------------------------------

ESCAPE_HEAVY = st.text(alphabet=st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f é✓\u2028\u2029😀{}[],: id')),
                       max_size=12)
TEXTS = (st.text(alphabet=st.characters(codec="utf-8"), max_size=10) | ESCAPE_HEAVY
         | st.sampled_from(["", "id", '"id"', '"id":1', ',"id":2}', "\\u0069d", "1", "2.0"]))
INTS = (st.integers(min_value=-(2**63), max_value=2**64) | st.integers(min_value=-(2**200), max_value=2**200)
        | st.sampled_from([0, 1, -1, 2**63, 2**64, -(2**63) - 1, 10**30]))
IDS: st.SearchStrategy[int | str] = INTS | TEXTS
NEW_IDS: st.SearchStrategy[int | str] = st.integers(min_value=-(2**63), max_value=2**63 - 1) | TEXTS
SCALARS = (st.none() | st.booleans() | INTS | TEXTS
           | st.floats(allow_nan=False, allow_infinity=False))
KEYS = TEXTS | st.sampled_from(["id", "id", "jsonrpc", "result", "method", "ID", "\\u0069d"])
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)
                   | st.builds(lambda i, v: {"id": i, "x": v}, IDS, inner)),
    max_leaves=12)
REST_KEYS = KEYS.filter(lambda key: key not in ("id", "jsonrpc"))
RESTS = st.dictionaries(REST_KEYS, VALUES, max_size=5)
# The name `id` as written: plain, or spelled with an escape (which only the scan understands).
ID_KEYS = st.sampled_from(['"id"', '"id"', '"id"', '"\\u0069d"', '"i\\u0064"'])


@dataclass(frozen=True)
class Style:
    item_sep: str
    key_sep: str
    ensure_ascii: bool
    lead: str  # before the opening brace and inside it
    trail: str  # inside the closing brace and after it

    def value(self, value: Any) -> bytes:
        text = json.dumps(value, ensure_ascii=self.ensure_ascii, separators=(self.item_sep, self.key_sep))
        return text.encode()

    def key(self, name: str) -> bytes:
        return json.dumps(name, ensure_ascii=self.ensure_ascii).encode()


STYLES = st.builds(
    Style,
    item_sep=st.sampled_from([",", ", ", ",\n  ", " ,\t"]),
    key_sep=st.sampled_from([":", ": ", " : "]),
    ensure_ascii=st.booleans(),
    lead=st.sampled_from(["", "", " ", "\n  "]),
    trail=st.sampled_from(["", "", " ", "\n", "\r\n"]),
)


def write_object(members: list[tuple[bytes, Any]], style: Style) -> tuple[bytes, list[tuple[int, int]]]:
    """`{...}` of members (the name as written, the value), and where each value was written."""
    out = bytearray(style.lead.encode() + b"{" + style.lead.encode())
    spans: list[tuple[int, int]] = []
    for i, (name, value) in enumerate(members):
        if i:
            out += style.item_sep.encode()
        out += name + style.key_sep.encode()
        written = style.value(value)
        spans.append((len(out), len(out) + len(written)))
        out += written
    out += style.trail.encode() + b"}" + style.trail.encode()
    return bytes(out), spans


def write_array(items: list[Any], style: Style) -> tuple[bytes, list[bytes]]:
    written = [style.value(item) for item in items]
    inner = style.item_sep.encode().join(written)
    return style.lead.encode() + b"[" + style.lead.encode() + inner + style.trail.encode() + b"]", written


@dataclass(frozen=True)
class Message:
    data: bytes
    id: int | str
    start: int
    end: int
    value: dict[str, Any]  # what a parser reads


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """An object with one top-level id, placed first, after "jsonrpc", last or anywhere between."""
    style = draw(STYLES)
    rest = [(style.key(k), v) for k, v in draw(RESTS).items()]
    message_id = draw(IDS)
    id_member = (draw(ID_KEYS).encode(), message_id)
    jsonrpc = (style.key("jsonrpc"), "2.0")
    place = draw(st.sampled_from(["first", "after jsonrpc", "last", "anywhere"]))
    if place == "first":
        members = [id_member, *rest]
    elif place == "after jsonrpc":
        members = [jsonrpc, id_member, *rest]
    elif place == "last":
        members = [*rest, id_member]
    else:
        members = [*rest]
        members.insert(draw(st.integers(0, len(rest))), id_member)
    if place != "after jsonrpc" and draw(st.booleans()):
        members.insert(draw(st.integers(0, len(members))), jsonrpc)
    data, spans = write_object(members, style)
    start, end = spans[members.index(id_member)]
    value = json.loads(data)
    assert same(value["id"], message_id)  # the generator's own check: the writer is right
    return Message(data, message_id, start, end, value)


def nested_ids(value: Any) -> list[object]:
    """Every value of an `id` member below the top level (and of the top level, for lists)."""
    found: list[object] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "id":
                found.append(inner)
            found.extend(nested_ids(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(nested_ids(inner))
    return found


def twins(message_id: int | str) -> list[object]:
    """Values that are not `message_id`, some of which look alike."""
    alike: list[object]
    if isinstance(message_id, int):
        alike = [str(message_id), float(message_id), message_id + 1, -message_id - 1]
        if message_id in (0, 1):
            alike.append(bool(message_id))
    else:
        alike = [message_id + "x", message_id[:-1], message_id.upper() + "\x00"]
        if re.fullmatch(r"-?[0-9]+", message_id):
            alike.append(int(message_id))
    return [*alike, None, [message_id]]


# ----- locate_id / replace_id: properties -------------------------------------------------------


@PROPERTY
@given(messages())
def test_locate_id_finds_exactly_the_top_level_id(message: Message) -> None:
    span = codec.locate_id(message.data, message.id)
    assert span == IdSpan(message.id, message.start, message.end)
    assert span is not None and same(span.value, message.id)


@PROPERTY
@given(messages(), NEW_IDS)
def test_replace_id_changes_only_the_ids_bytes(message: Message, new_id: int | str) -> None:
    span = codec.locate_id(message.data, message.id)
    assert span is not None
    replaced = codec.replace_id(message.data, span, new_id)
    written = codec.dumps(new_id)
    assert replaced[: message.start] == message.data[: message.start]
    assert replaced[message.start : message.start + len(written)] == written
    assert replaced[message.start + len(written) :] == message.data[message.end :]
    parsed = json.loads(replaced)
    assert parsed == {**message.value, "id": new_id}
    assert same(parsed["id"], new_id)


@PROPERTY
@given(messages())
def test_locate_id_finds_nothing_for_another_value_or_type(message: Message) -> None:
    others = [*twins(message.id), *nested_ids(message.value)]
    for other in others:
        if same(other, message.id):
            continue
        assert codec.locate_id(message.data, other) is None, other


@PROPERTY
@given(STYLES, RESTS, st.data())
def test_locate_id_finds_nothing_without_a_top_level_id(style: Style, rest: dict[str, Any],
                                                         data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        rest = {**rest, "result": {"id": data.draw(IDS), "content": [{"id": data.draw(IDS)}]}}
    members = [(style.key(k), v) for k, v in rest.items()]
    written, _ = write_object(members, style)
    for candidate in [*nested_ids(rest), 0, 1, "1", ""]:
        assert codec.locate_id(written, candidate) is None, candidate


@PROPERTY
@given(STYLES, RESTS, IDS, st.data())
def test_of_duplicate_top_level_ids_the_last_one_is_found(
    style: Style, rest: dict[str, Any], later: int | str, data: st.DataObject,
) -> None:
    earlier = later if data.draw(st.booleans()) else data.draw(IDS)
    members: list[tuple[bytes, Any]] = [(style.key(k), v) for k, v in rest.items()]
    first_at = data.draw(st.integers(0, len(members)))
    members.insert(first_at, (data.draw(ID_KEYS).encode(), earlier))
    last_at = data.draw(st.integers(first_at + 1, len(members)))
    members.insert(last_at, (data.draw(ID_KEYS).encode(), later))
    written, spans = write_object(members, style)
    assert same(json.loads(written)["id"], later)  # what a parser keeps
    span = codec.locate_id(written, later)
    assert span == IdSpan(later, *spans[last_at])
    assert span is not None
    assert same(json.loads(codec.replace_id(written, span, "new"))["id"], "new")


# ----- split_array: properties -----------------------------------------------------------------


@PROPERTY
@given(STYLES, st.lists(st.dictionaries(KEYS, VALUES, max_size=4) | VALUES, max_size=6))
def test_split_array_gives_each_member_as_the_bytes_it_was_written_as(style: Style, items: list[Any]) -> None:
    data, written = write_array(items, style)
    members = codec.split_array(data)
    assert members == written
    assert [json.loads(member) for member in members] == items
