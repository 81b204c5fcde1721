"""Markup conversion, with libraries: markdown <-> Jira wiki markup, markdown <-> Confluence storage.

- markdown -> Jira wiki: markdown-it-py parses; a small renderer walks its token stream.
- markdown -> storage XHTML: markdown-it-py's HTML renderer (`xhtmlOut`), fenced code as the
  Confluence `code` macro.
- Jira wiki -> markdown: jira2markdown.
- storage XHTML -> markdown: BeautifulSoup turns Confluence macros into plain HTML, then markdownify.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from html import escape
from typing import Any

from bs4 import BeautifulSoup, Tag
from jira2markdown.elements import MarkupElements  # type: ignore[import-untyped]
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdownify import MarkdownConverter
from pyparsing import Forward


def _parser(xhtml: bool) -> MarkdownIt:
    return MarkdownIt("commonmark", {"xhtmlOut": xhtml, "html": False}).enable(["table", "strikethrough"])


_MD = _parser(xhtml=False)
_MD_XHTML = _parser(xhtml=True)


# ---------------------------------------------------------------- markdown -> Jira wiki markup

_INLINE_MARKS = {"strong": "*", "em": "_", "s": "-"}
_WIKI_SPECIAL = str.maketrans({"{": "\\{", "}": "\\}", "[": "\\[", "]": "\\]", "|": "\\|"})


class _WikiRenderer:
    """Walks markdown-it block tokens and writes Jira wiki markup."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.lists: list[str] = []  # "*" or "#" per open list
        self.item_started = False
        self.quote_depth = 0

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            handler = getattr(self, "_" + token.type, None)
            if handler is not None:
                handler(token)
        return "".join(self.out).strip("\n")

    def _block_end(self) -> None:
        self.out.append("\n" if self.lists or self.quote_depth else "\n\n")

    def _heading_open(self, token: Token) -> None:
        self.out.append(f"{token.tag}. ")

    def _heading_close(self, token: Token) -> None:
        self.out.append("\n\n")

    def _paragraph_open(self, token: Token) -> None:
        if self.lists and not self.item_started:
            self.out.append("\n")
        self.item_started = False

    def _paragraph_close(self, token: Token) -> None:
        self._block_end()

    def _bullet_list_open(self, token: Token) -> None:
        self._open_list("*")

    def _ordered_list_open(self, token: Token) -> None:
        self._open_list("#")

    def _open_list(self, mark: str) -> None:
        if self.lists and self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")
        self.lists.append(mark)

    def _bullet_list_close(self, token: Token) -> None:
        self._close_list()

    _ordered_list_close = _bullet_list_close

    def _close_list(self) -> None:
        self.lists.pop()
        if not self.lists:
            self.out.append("\n")

    def _list_item_open(self, token: Token) -> None:
        self.out.append("".join(self.lists) + " ")
        self.item_started = True

    def _blockquote_open(self, token: Token) -> None:
        self.quote_depth += 1
        self.out.append("{quote}\n")

    def _blockquote_close(self, token: Token) -> None:
        self.quote_depth -= 1
        self.out.append("{quote}\n\n")

    def _fence(self, token: Token) -> None:
        language = token.info.strip().split(" ")[0]
        opener = f"{{code:{language}}}" if language else "{code}"
        self.out.append(f"{opener}\n{token.content}{{code}}\n\n")

    def _code_block(self, token: Token) -> None:
        self.out.append(f"{{noformat}}\n{token.content}{{noformat}}\n\n")

    def _hr(self, token: Token) -> None:
        self.out.append("----\n\n")

    def _th_open(self, token: Token) -> None:
        self.out.append("||")

    def _td_open(self, token: Token) -> None:
        self.out.append("|")

    def _tr_close(self, token: Token) -> None:
        header = self.out and any(part == "||" for part in self.out[-3:])
        self.out.append("||\n" if header else "|\n")

    def _table_close(self, token: Token) -> None:
        self.out.append("\n")

    def _inline(self, token: Token) -> None:
        self.out.append(_wiki_inline(token.children or []))


def _wiki_inline(children: Sequence[Token]) -> str:
    parts: list[str] = []
    links: list[str] = []
    for child in children:
        kind = child.type
        if kind == "text":
            parts.append(child.content.translate(_WIKI_SPECIAL))
        elif kind.endswith(("_open", "_close")) and kind.rsplit("_", 1)[0] in _INLINE_MARKS:
            parts.append(_INLINE_MARKS[kind.rsplit("_", 1)[0]])
        elif kind == "code_inline":
            parts.append("{{" + child.content + "}}")
        elif kind == "link_open":
            links.append(str(child.attrGet("href") or ""))
            parts.append("[")
        elif kind == "link_close":
            parts.append("|" + links.pop() + "]")
        elif kind == "image":
            parts.append(f"!{child.attrGet('src')}!")
        elif kind == "softbreak":
            parts.append("\n")
        elif kind == "hardbreak":
            parts.append("\\\\\n")
    return "".join(parts)


def markdown_to_jira(markdown: str) -> str:
    """Markdown into Jira wiki markup (the v2 REST API's text format)."""
    return _WikiRenderer().render(_MD.parse(markdown))


# ---------------------------------------------------------------- markdown -> storage XHTML


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def code_macro(code: str, language: str = "") -> str:
    """The Confluence `code` macro in storage format."""
    parameter = (
        f'<ac:parameter ac:name="language">{escape(language)}</ac:parameter>' if language else ""
    )
    return (
        f'<ac:structured-macro ac:name="code" ac:schema-version="1">{parameter}'
        f"<ac:plain-text-body>{_cdata(code)}</ac:plain-text-body></ac:structured-macro>\n"
    )


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    return code_macro(token.content, token.info.strip().split(" ")[0])


def _render_code_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return code_macro(tokens[idx].content)


_MD_XHTML.add_render_rule("fence", _render_fence)
_MD_XHTML.add_render_rule("code_block", _render_code_block)


def markdown_to_storage(markdown: str) -> str:
    """Markdown into Confluence storage format (XHTML, code blocks as the code macro)."""
    return str(_MD_XHTML.render(markdown)).strip()


def wiki_to_storage(wiki: str) -> str:
    """Jira/Confluence wiki markup into storage format (through markdown)."""
    return markdown_to_storage(jira_to_markdown(wiki))


def looks_like_storage(content: str) -> bool:
    """`content_format=auto`: XHTML-looking content is storage, anything else markdown."""
    text = content.lstrip()
    return text.startswith("<") and (text.rstrip().endswith(">") or "<ac:" in text)


def to_storage(content: str, content_format: str) -> str:
    """Body for Confluence from `content_format` auto|markdown|storage|wiki (storage passes unchanged)."""
    if content_format == "storage" or (content_format == "auto" and looks_like_storage(content)):
        return content
    if content_format == "wiki":
        return wiki_to_storage(content)
    return markdown_to_storage(content)


# ---------------------------------------------------------------- back to markdown


def jira_to_markdown(wiki: str | None) -> str:
    """Jira wiki markup into markdown (what `jira2markdown.convert` gives, on a grammar built once)."""
    if not wiki:
        return ""
    return str(wiki_grammar().transform_string(wiki)).strip()


@functools.cache
def wiki_grammar() -> Any:
    """jira2markdown's grammar, built once per process: `jira2markdown.convert` builds it on every
    call, which costs as much as the parse itself."""
    elements = MarkupElements()
    inline, markup = Forward(), Forward()
    inline <<= elements.expr(inline, markup, {}, filter(lambda e: e.is_inline_element, elements))
    markup <<= elements.expr(inline, markup, {}, elements)
    return markup


def _macro_name(tag: Tag) -> str:
    return str(tag.get("ac:name", ""))


def _simplify_macros(soup: BeautifulSoup) -> None:
    """Replace Confluence-only elements with plain HTML markdownify understands."""
    for macro in soup.find_all("ac:structured-macro"):
        name = _macro_name(macro)
        body = macro.find("ac:plain-text-body")
        if name in {"code", "noformat"} and body is not None:
            language = macro.find("ac:parameter", attrs={"ac:name": "language"})
            pre = soup.new_tag("pre")
            code = soup.new_tag("code")
            if language is not None:
                code["class"] = f"language-{language.get_text().strip()}"
            code.string = body.get_text()
            pre.append(code)
            macro.replace_with(pre)
            continue
        rich = macro.find("ac:rich-text-body")
        if rich is not None:
            block = soup.new_tag("blockquote")
            for child in list(rich.contents):
                block.append(child.extract())
            macro.replace_with(block)
        else:
            macro.decompose()
    for link in soup.find_all("ac:link"):
        target = link.find(["ri:page", "ri:attachment", "ri:user"])
        label = link.get_text().strip()
        if not label and target is not None:
            label = str(target.get("ri:content-title") or target.get("ri:filename") or "")
        link.replace_with(label)
    for image in soup.find_all("ac:image"):
        image.decompose()


class _StorageConverter(MarkdownConverter):
    """markdownify with fenced code that keeps the language of `language-x` classes."""

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        code = el.find("code")
        language = ""
        if isinstance(code, Tag):
            for css in code.get_attribute_list("class"):
                if str(css).startswith("language-"):
                    language = str(css)[len("language-"):]
        body = el.get_text().strip("\n")
        return f"\n\n```{language}\n{body}\n```\n\n"


def storage_to_markdown(storage: str | None) -> str:
    """Confluence storage XHTML into markdown."""
    if not storage:
        return ""
    soup = BeautifulSoup(storage, "html.parser")
    _simplify_macros(soup)
    converted = _StorageConverter(heading_style="ATX", bullets="-").convert_soup(soup)
    return str(converted).strip()
