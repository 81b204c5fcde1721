"""Pure units: markup conversion, configuration, JQL/CQL building, error extraction, retries, arguments."""

from __future__ import annotations

import base64

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legacy_stdio import query
from legacy_stdio.analysis import classify_url
from legacy_stdio.config import ConfigError, load_settings
from legacy_stdio.confluence import build_cql, is_cql
from legacy_stdio.confluence import split_order_by as split_cql_order_by
from legacy_stdio.errors import BadArguments
from legacy_stdio.http import auth_headers, build_http_client, error_message, retry_delay
from legacy_stdio.jira import JiraClient, restrict_jql, split_order_by
from legacy_stdio.markup import (
    jira_to_markdown,
    looks_like_storage,
    markdown_to_jira,
    markdown_to_storage,
    storage_to_markdown,
    to_storage,
)
from legacy_stdio.resources import parse_uri
from legacy_stdio.services import Services
from legacy_stdio.tools import ALL_TOOLS, call_tool
from legacy_stdio.tools.base import Param
from legacy_stdio.tools.confluence import relevant_sections

# ---------------------------------------------------------------- markup


def test_markdown_to_jira_wiki() -> None:
    markdown = (
        "# Title\n\nSome **bold**, _em_, ~~gone~~, `code` and [a link](https://x.test/a).\n\n"
        "- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\n"
        "```python\nprint(1)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert markdown_to_jira(markdown) == (
        "h1. Title\n\nSome *bold*, _em_, -gone-, {{code}} and [a link|https://x.test/a].\n\n"
        "* one\n* two\n** nested\n\n# first\n# second\n\n{quote}\nquoted\n{quote}\n\n"
        "{code:python}\nprint(1)\n{code}\n\n||a||b||\n|1|2|"
    )


def test_wiki_special_characters_are_escaped() -> None:
    assert markdown_to_jira("use {braces} and [brackets]") == "use \\{braces\\} and \\[brackets\\]"


def test_jira_wiki_to_markdown() -> None:
    wiki = "h2. Goal\nShip it.\n\n* It works for *all* users\n* {{code}} here\n\n{code:python}\nx = 1\n{code}"
    markdown = jira_to_markdown(wiki)
    assert markdown.startswith("## Goal\nShip it.")
    assert "- It works for **all** users" in markdown and "- `code` here" in markdown
    assert "```python\nx = 1\n```" in markdown
    assert jira_to_markdown(None) == ""


def test_markdown_to_storage_uses_the_code_macro() -> None:
    storage = markdown_to_storage("## Head\n\nText<br>\n\n```bash\nmake ]]> deploy\n```")
    assert storage.startswith("<h2>Head</h2>\n<p>Text&lt;br&gt;</p>")  # raw HTML is escaped: valid XHTML
    assert '<ac:structured-macro ac:name="code" ac:schema-version="1">' in storage
    assert '<ac:parameter ac:name="language">bash</ac:parameter>' in storage
    assert "<![CDATA[make ]]]]><![CDATA[> deploy\n]]>" in storage  # CDATA end split safely


def test_storage_to_markdown_reads_macros_links_and_tables() -> None:
    storage = (
        "<h1>T</h1><p>See <ac:link><ri:page ri:content-title=\"Deployment Guide\" /></ac:link>.</p>"
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">go</ac:parameter>'
        "<ac:plain-text-body><![CDATA[fmt.Println(1 < 2)]]></ac:plain-text-body></ac:structured-macro>"
        '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Owned by Bob.</p></ac:rich-text-body>'
        "</ac:structured-macro><table><tbody><tr><th>A</th></tr><tr><td>1</td></tr></tbody></table>"
    )
    markdown = storage_to_markdown(storage)
    assert markdown.startswith("# T\n\nSee Deployment Guide.")
    assert "```go\nfmt.Println(1 < 2)\n```" in markdown
    assert "> Owned by Bob." in markdown and "| A |" in markdown
    assert storage_to_markdown("") == ""


def test_content_formats() -> None:
    assert looks_like_storage("<p>x</p>") and not looks_like_storage("# x") and not looks_like_storage("<3 you")
    assert to_storage("<p>kept  exactly</p>", "auto") == "<p>kept  exactly</p>"
    assert to_storage("# Hi", "auto") == "<h1>Hi</h1>"
    assert to_storage("<b>raw</b>", "storage") == "<b>raw</b>"
    assert to_storage("h1. Hi\n* a", "wiki") == "<h1>Hi</h1>\n<ul>\n<li>a</li>\n</ul>"
    assert to_storage("<p>x</p>", "markdown") == "<p>&lt;p&gt;x&lt;/p&gt;</p>"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_conversions_never_crash(text: str) -> None:
    assert isinstance(markdown_to_jira(text), str)
    assert isinstance(jira_to_markdown(text), str)
    assert isinstance(storage_to_markdown(markdown_to_storage(text)), str)


# ---------------------------------------------------------------- configuration


def test_settings_from_env() -> None:
    settings = load_settings({
        "JIRA_URL": "https://x.atlassian.net/", "JIRA_EMAIL": "a@x.test", "JIRA_API_TOKEN": "t0k3n",
        "JIRA_SSL_VERIFY": "false", "JIRA_TIMEOUT": "7.5", "JIRA_CUSTOM_HEADERS": "X-A=1, X-B = two",
        "JIRA_HTTPS_PROXY": "http://proxy:3128", "JIRA_NO_PROXY": "internal.test",
        "CONFLUENCE_URL": "https://wiki.example.test", "CONFLUENCE_PERSONAL_TOKEN": "pat",
        "READ_ONLY_MODE": "1", "ENABLED_TOOLS": "a, b", "JIRA_PROJECTS_FILTER": "demo,ops",
        "CONFLUENCE_SPACES_FILTER": "ENG", "JIRA_DEPLOYMENT": "Data-Center", "ATLASSIAN_RETRY_WRITES": "yes",
    })
    jira, confluence = settings.jira, settings.confluence
    assert jira is not None and confluence is not None
    assert jira.url == "https://x.atlassian.net" and jira.username == "a@x.test" and not jira.ssl_verify
    assert jira.timeout == 7.5 and jira.custom_headers == (("X-A", "1"), ("X-B", "two"))
    assert jira.proxies.https == "http://proxy:3128" and jira.proxies.no_proxy == ("internal.test",)
    assert confluence.personal_token == "pat" and confluence.ssl_verify
    assert settings.read_only and settings.enabled_tools == frozenset({"a", "b"})
    assert settings.projects_filter == ("DEMO", "OPS") and settings.spaces_filter == ("ENG",)
    assert settings.jira_deployment == "server" and settings.retry.retry_writes
    assert "t0k3n" not in repr(jira)


def test_incomplete_service_is_not_configured() -> None:
    settings = load_settings({"JIRA_URL": "https://x.test", "JIRA_USERNAME": "a"})  # no token
    assert settings.jira is None and settings.confluence is None and not settings.read_only


@pytest.mark.parametrize(("env", "message"), [
    ({"READ_ONLY_MODE": "maybe"}, "READ_ONLY_MODE must be true or false"),
    ({"JIRA_URL": "x.test", "JIRA_PERSONAL_TOKEN": "p"}, "JIRA_URL must start with http"),
    ({"JIRA_URL": "http://x", "JIRA_PERSONAL_TOKEN": "p", "JIRA_TIMEOUT": "-1"}, "JIRA_TIMEOUT must be at least"),
    ({"JIRA_URL": "http://x", "JIRA_PERSONAL_TOKEN": "p", "JIRA_CUSTOM_HEADERS": "X-Secret"}, "entry 1"),
    ({"JIRA_DEPLOYMENT": "mainframe"}, "JIRA_DEPLOYMENT must be cloud or server"),
])
def test_bad_settings_are_explained(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_auth_and_client_headers() -> None:
    basic = load_settings({"JIRA_URL": "http://x", "JIRA_USERNAME": "me@x.test", "JIRA_API_TOKEN": "tok",
                           "JIRA_CUSTOM_HEADERS": "X-Tenant=blue"}).jira
    bearer = load_settings({"JIRA_URL": "http://x", "JIRA_USERNAME": "me", "JIRA_API_TOKEN": "tok",
                            "JIRA_PERSONAL_TOKEN": "pat"}).jira
    assert basic is not None and bearer is not None
    assert auth_headers(basic) == {"Authorization": "Basic " + base64.b64encode(b"me@x.test:tok").decode()}
    assert auth_headers(bearer) == {"Authorization": "Bearer pat"}
    client = build_http_client(basic)
    assert client.headers["X-Tenant"] == "blue" and client.headers["Authorization"].startswith("Basic ")


# ---------------------------------------------------------------- queries


def test_jql_restriction_keeps_order_by() -> None:
    assert restrict_jql("status = Done ORDER BY key", ("DEMO",)) == 'project in ("DEMO") AND (status = Done) ORDER BY key'
    assert restrict_jql("ORDER BY updated DESC", ("A", "B")) == 'project in ("A", "B") ORDER BY updated DESC'
    assert restrict_jql("x = 1", ()) == "x = 1"
    assert split_order_by('summary ~ "order by" ORDER BY key') == ('summary ~ "order by"', "ORDER BY key")


@pytest.mark.parametrize(
    ("jql", "condition", "order"),
    [
        # An escaped double quote does not end the string, so the ORDER BY inside it stays in the condition.
        (r'summary ~ "say \" ORDER BY x" ORDER BY updated DESC', r'summary ~ "say \" ORDER BY x"', "ORDER BY updated DESC"),
        # Single-quoted strings, with an escaped single quote inside.
        (r"summary ~ 'it\'s ORDER BY x' ORDER BY key", r"summary ~ 'it\'s ORDER BY x'", "ORDER BY key"),
        # The other quote kind inside a string is plain text.
        ("""summary ~ 'say " ORDER BY x' ORDER BY key""", """summary ~ 'say " ORDER BY x'""", "ORDER BY key"),
        ("summary ~ \"it's ORDER BY x\" ORDER BY key", "summary ~ \"it's ORDER BY x\"", "ORDER BY key"),
        # An escaped backslash before the closing quote: the string ends there (JQL text `"a\\" ORDER BY x`).
        (r'summary ~ "a\\" ORDER BY x', r'summary ~ "a\\"', "ORDER BY x"),
        (r"summary ~ 'a\\' ORDER BY x", r"summary ~ 'a\\'", "ORDER BY x"),
        # An escaped backslash followed by an escaped quote: still inside the string.
        (r'summary ~ "a\\\" ORDER BY x" ORDER BY key', r'summary ~ "a\\\" ORDER BY x"', "ORDER BY key"),
        # An unterminated string swallows the rest of the query.
        (r'summary ~ "a\" ORDER BY x', r'summary ~ "a\" ORDER BY x', ""),
    ],
)
def test_split_order_by_honours_quotes_and_escapes(jql: str, condition: str, order: str) -> None:
    assert split_order_by(jql) == (condition, order)


def test_jql_restriction_with_escaped_quote() -> None:
    jql = r'summary ~ "say \" ORDER BY x" ORDER BY updated DESC'
    assert restrict_jql(jql, ("DEMO",)) == (
        r'project in ("DEMO") AND (summary ~ "say \" ORDER BY x") ORDER BY updated DESC'
    )
    jql = r"summary ~ 'it\'s ORDER BY x' ORDER BY key"
    assert restrict_jql(jql, ("A", "B")) == r"""project in ("A", "B") AND (summary ~ 'it\'s ORDER BY x') ORDER BY key"""
    jql = r'summary ~ "a\\" ORDER BY x'
    assert restrict_jql(jql, ("DEMO",)) == r'project in ("DEMO") AND (summary ~ "a\\") ORDER BY x'


def test_jira_and_confluence_share_one_splitter() -> None:
    assert split_order_by is split_cql_order_by is query.split_order_by


@pytest.mark.parametrize(
    ("jql", "condition", "order"),
    [
        # Characters whose upper case is longer (ß -> SS) must not shift where ORDER BY is looked for.
        ('text ~ "ßßßßßßßßßß" AND summary ~ "order by" OR project = SECRET',
         'text ~ "ßßßßßßßßßß" AND summary ~ "order by" OR project = SECRET', ""),
        ('summary ~ "ßß" ORDER BY key', 'summary ~ "ßß"', "ORDER BY key"),
        # Any run of whitespace between ORDER and BY, in any case.
        ("status = Done ORDER  BY key", "status = Done", "ORDER  BY key"),
        ("status = Done order\tby key", "status = Done", "order\tby key"),
        ("status = Done\nOrder \r\n By key", "status = Done", "Order \r\n By key"),
        # Whole words only.
        ("labels = reorder by key", "labels = reorder by key", ""),
        ("labels = x ORDER BYkey", "labels = x ORDER BYkey", ""),
        # ORDER BY only counts outside parentheses.
        ("(labels = x ORDER BY key) OR project = SECRET", "(labels = x ORDER BY key) OR project = SECRET", ""),
        # A backslash escapes outside strings too: `\"` is part of a word and opens no string.
        (r'summary ~ a\" ORDER BY key', r'summary ~ a\"', "ORDER BY key"),
        # An escaped space joins the next word, so no ORDER BY starts there.
        (r"summary ~ a\ ORDER BY key", r"summary ~ a\ ORDER BY key", ""),
    ],
)
def test_jql_split_order_by_matches_on_the_original_text(jql: str, condition: str, order: str) -> None:
    assert split_order_by(jql) == (condition, order)


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        # The reproduced bypass: ß drift used to split at the quoted "order by" and leave
        # `OR project = SECRET` outside the parentheses.
        ('text ~ "ßßßßßßßßßß" AND summary ~ "order by" OR project = SECRET',
         'project in ("DEMO") AND (text ~ "ßßßßßßßßßß" AND summary ~ "order by" OR project = SECRET)'),
        ("status = Done ORDER  BY key", 'project in ("DEMO") AND (status = Done) ORDER  BY key'),
        ("status = Done\norder\t\tby updated DESC", 'project in ("DEMO") AND (status = Done) order\t\tby updated DESC'),
        ('summary ~ ")" OR summary ~ "(("', 'project in ("DEMO") AND (summary ~ ")" OR summary ~ "((")'),
        ("(labels = x ORDER BY key) OR project = SECRET",
         'project in ("DEMO") AND ((labels = x ORDER BY key) OR project = SECRET)'),
        (r'summary ~ a\" OR project = SECRET OR summary ~ b\"',
         r'project in ("DEMO") AND (summary ~ a\" OR project = SECRET OR summary ~ b\")'),
    ],
)
def test_jql_projects_filter_wraps_the_whole_condition(jql: str, expected: str) -> None:
    assert restrict_jql(jql, ("DEMO",)) == expected


@pytest.mark.parametrize(
    "jql",
    [
        "labels = x) OR (project = SECRET",
        "labels = x) OR project = SECRET ORDER BY key",
        "((labels = x) OR project = SECRET",
        "labels = x ORDER BY key) OR (project = SECRET",
        # An unterminated string would swallow the wrapper's closing parenthesis.
        'summary ~ "abc',
        r'summary ~ "a\" OR project = SECRET',
        # Escaped quotes outside strings open none, so these parentheses are real.
        r'summary ~ a\") OR (project = SECRET OR summary ~ b\"',
        # A dangling backslash would escape the wrapper's closing parenthesis.
        "summary ~ a\\",
        "summary ~ a\\ ",
    ],
)
def test_jql_with_unbalanced_parentheses_is_refused_when_restricted(jql: str) -> None:
    with pytest.raises(BadArguments, match="jql: the JQL has unbalanced parentheses"):
        restrict_jql(jql, ("DEMO",))
    assert restrict_jql(jql, ()) == jql


class _NoRequests:
    async def request(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("a refused query must not reach Jira")


@pytest.mark.anyio
async def test_search_tool_reports_unbalanced_jql_as_invalid_arguments() -> None:
    settings = load_settings({"JIRA_URL": "https://x.test", "JIRA_PERSONAL_TOKEN": "t",
                              "JIRA_PROJECTS_FILTER": "DEMO", "JIRA_DEPLOYMENT": "server"})
    jira = JiraClient(_NoRequests(), "server", settings.projects_filter)  # type: ignore[arg-type]
    result = await call_tool(Services(settings, jira, None), "search-jira-issues",
                             {"jql": "labels = x) OR (project = SECRET"})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Invalid arguments: jql: the JQL has unbalanced parentheses")


def test_cql_building() -> None:
    assert build_cql("deploy guide", None, ()) == 'type = page AND (title ~ "deploy guide" OR text ~ "deploy guide")'
    assert build_cql('say "hi"', "ENG", ()) == (
        'space = "ENG" AND (type = page AND (title ~ "say \\"hi\\"" OR text ~ "say \\"hi\\""))'
    )
    assert build_cql("label = howto order by lastmodified desc", None, ("A", "B")) == (
        'space in ("A", "B") AND (label = howto) order by lastmodified desc'
    )
    assert is_cql("type=page") and is_cql("space in (A)") and not is_cql("what is the type of page")


@pytest.mark.parametrize(
    ("cql", "condition", "order"),
    [
        ("ORDER BY lastmodified DESC", "", "ORDER BY lastmodified DESC"),
        ("type = page ORDER BY lastmodified DESC", "type = page", "ORDER BY lastmodified DESC"),
        ("type = page order by created", "type = page", "order by created"),
        ("type = page Order  By created", "type = page", "Order  By created"),
        ("type = page\nORDER\tBY created", "type = page", "ORDER\tBY created"),
        # ORDER BY inside a double- or single-quoted string is text, not the clause.
        ('title ~ "order by"', 'title ~ "order by"', ""),
        ('title ~ "order by" ORDER BY title', 'title ~ "order by"', "ORDER BY title"),
        ("text ~ 'x order by y'", "text ~ 'x order by y'", ""),
        ("text ~ 'x order by y' order by created desc", "text ~ 'x order by y'", "order by created desc"),
        ("""title ~ 'say " order by x' ORDER BY title""", """title ~ 'say " order by x'""", "ORDER BY title"),
        ("title ~ \"it's order by x\" ORDER BY title", "title ~ \"it's order by x\"", "ORDER BY title"),
        # An escaped quote does not end the string.
        (r'title ~ "say \" order by x" ORDER BY title', r'title ~ "say \" order by x"', "ORDER BY title"),
        (r"text ~ 'it\'s order by x' ORDER BY title", r"text ~ 'it\'s order by x'", "ORDER BY title"),
        # An escaped backslash before the closing quote: the string ends there.
        (r'title ~ "a\\" ORDER BY title', r'title ~ "a\\"', "ORDER BY title"),
        (r"title ~ 'a\\' ORDER BY title", r"title ~ 'a\\'", "ORDER BY title"),
        (r'title ~ "a\\\" order by x" ORDER BY title', r'title ~ "a\\\" order by x"', "ORDER BY title"),
        # An unterminated string swallows the rest.
        (r'title ~ "a\" ORDER BY title', r'title ~ "a\" ORDER BY title', ""),
        # Whole words only.
        ("label = reorder by title", "label = reorder by title", ""),
        ("label = my_order by title", "label = my_order by title", ""),
        ("label = x ORDER BYline", "label = x ORDER BYline", ""),
        # Characters whose upper case is longer (ß -> SS) must not shift where ORDER BY is looked for.
        ('text ~ "ßßßßßßßßßß" AND title ~ "order by" OR space = SECRET',
         'text ~ "ßßßßßßßßßß" AND title ~ "order by" OR space = SECRET', ""),
        # ORDER BY only counts outside parentheses.
        ("(label = x ORDER BY title) OR space = SECRET", "(label = x ORDER BY title) OR space = SECRET", ""),
    ],
)
def test_cql_split_order_by_honours_quotes_and_escapes(cql: str, condition: str, order: str) -> None:
    assert split_cql_order_by(cql) == (condition, order)


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ('title ~ "order by" OR space = SECRET', 'space in ("A", "B") AND (title ~ "order by" OR space = SECRET)'),
        ("text ~ 'x order by y' OR space = SECRET", "space in (\"A\", \"B\") AND (text ~ 'x order by y' OR space = SECRET)"),
        (r'title ~ "say \" order by x" OR space = SECRET ORDER BY title',
         r'space in ("A", "B") AND (title ~ "say \" order by x" OR space = SECRET) ORDER BY title'),
        (r'title ~ "a\\" ORDER BY title', r'space in ("A", "B") AND (title ~ "a\\") ORDER BY title'),
        ("type = page ORDER BY lastmodified DESC", 'space in ("A", "B") AND (type = page) ORDER BY lastmodified DESC'),
        ('text ~ "ßßßßßßßßßß" AND title ~ "order by" OR space = SECRET',
         'space in ("A", "B") AND (text ~ "ßßßßßßßßßß" AND title ~ "order by" OR space = SECRET)'),
        ('title ~ ")" OR title ~ "(("', 'space in ("A", "B") AND (title ~ ")" OR title ~ "((")'),
        # Balanced parentheses with ORDER BY inside: all of it stays inside the wrapper.
        ("(label = x ORDER BY title) OR space = SECRET",
         'space in ("A", "B") AND ((label = x ORDER BY title) OR space = SECRET)'),
    ],
)
def test_cql_spaces_filter_wraps_the_whole_condition(cql: str, expected: str) -> None:
    assert build_cql(cql, None, ("A", "B")) == expected


@pytest.mark.parametrize(
    "cql",
    [
        "label = x) OR (space = SECRET",
        "label = x) OR space = SECRET ORDER BY title",
        "((label = x) OR space = SECRET",
        "label = x ORDER BY title) OR (space = SECRET",
        # An unterminated string would swallow the wrapper's closing parenthesis.
        'title ~ "abc',
        r'title ~ "a\" OR space = SECRET',
        # The splitter is shared with JQL: escaped quotes outside strings open none, and a dangling
        # backslash would escape the wrapper's closing parenthesis.
        r'title ~ a\") OR (space = SECRET OR title ~ b\"',
        "title ~ a\\",
    ],
)
def test_cql_with_unbalanced_parentheses_is_refused_when_narrowed(cql: str) -> None:
    with pytest.raises(BadArguments):
        build_cql(cql, None, ("A",))
    with pytest.raises(BadArguments):
        build_cql(cql, "ENG", ())
    assert build_cql(cql, None, ()) == cql


# ---------------------------------------------------------------- HTTP


def _response(status: int, body: object = None, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    if body is not None:
        return httpx.Response(status, json=body, headers=headers)
    return httpx.Response(status, text=text, headers=headers)


def test_error_message_extraction() -> None:
    jira = _response(400, {"errorMessages": ["Bad JQL"], "errors": {"summary": "required"}})
    assert error_message("Jira", jira) == "Jira answered 400: Bad JQL; summary: required"
    confluence = _response(409, {"statusCode": 409, "message": "Version conflict"})
    assert error_message("Confluence", confluence) == "Confluence answered 409: Version conflict"
    html = _response(502, text="<html>proxy error</html>")
    assert error_message("Jira", html) == "Jira answered 502: Bad Gateway"
    assert error_message("Jira", _response(500, text="boom")) == "Jira answered 500: boom"


def test_retry_delay_honours_retry_after_with_a_cap() -> None:
    assert retry_delay(_response(429, headers={"Retry-After": "2"}), 0, 10) == 2
    assert retry_delay(_response(429, headers={"Retry-After": "120"}), 0, 10) == 10
    assert retry_delay(_response(503), 2, 10) == 2.0  # backoff 0.5 * 2**2
    assert retry_delay(_response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0, 10) == 0


# ---------------------------------------------------------------- arguments, URIs, helpers


def test_param_checks() -> None:
    count = Param("n", "integer", "", minimum=1, maximum=5)
    assert count.coerce("3") == 3 and count.coerce(2.0) == 2
    for bad in (True, "x", 0, 6):
        with pytest.raises(BadArguments):
            count.coerce(bad)
    assert Param("f", "boolean", "").coerce("false") is False
    assert Param("l", "array", "").coerce("a, b") == ["a", "b"]
    with pytest.raises(BadArguments, match="one of"):
        Param("s", "string", "", enum=("a",)).coerce("b")


def test_every_tool_schema_is_an_object_with_known_required_fields() -> None:
    for spec in ALL_TOOLS:
        schema = spec.input_schema()
        assert schema["type"] == "object"
        assert set(schema.get("required", [])) <= set(schema["properties"])
    names = [spec.name for spec in ALL_TOOLS]
    assert len(names) == len(set(names)) == 36


def test_resource_uris() -> None:
    assert parse_uri("jira://issue/demo-1") == ("issue", "DEMO-1")
    assert parse_uri("confluence://page/123") == ("page", "123")
    assert parse_uri("confluence://space/ENG/page/123") == ("page", "123")
    for bad in ("jira://issues/X-1", "confluence://space/ENG/123", "http://x/y"):
        with pytest.raises(BadArguments):
            parse_uri(bad)


def test_link_classification() -> None:
    base = "https://acme.atlassian.net/wiki"
    assert classify_url(f"{base}/spaces/ENG/pages/42/Title", base) == ("confluence", "42")
    assert classify_url("https://other.test/pages/viewpage.action?pageId=7", base) == ("confluence", "7")
    assert classify_url("https://github.com/o/r/pull/1", base) == ("git", None)
    assert classify_url("https://gitlab.example.test/g/p/-/merge_requests/3", base) == ("git", None)
    assert classify_url("https://example.test/", base) == ("other", None)


def test_relevant_sections() -> None:
    page = "# Intro\n\nHello.\n\n## Limits\n\nRate limits are 100 per minute.\n\n## Other\n\nNothing."
    assert relevant_sections(page, "What are the rate limits?", limit=1) == ["## Limits\n\nRate limits are 100 per minute."]
