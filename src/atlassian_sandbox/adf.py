"""Atlassian Document Format, just enough for REST v3: plain text in, plain text out."""

from __future__ import annotations

from typing import Any


def from_text(text: str | None) -> dict[str, Any] | None:
    """A v3 rich-text value: one paragraph per blank-line-separated block."""
    if text is None:
        return None
    blocks = [b for b in text.split("\n\n") if b.strip()]
    content = []
    for block in blocks:
        inline: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}


def to_text(value: Any) -> str | None:
    """The text of an ADF document (or the string itself, as v2 sends it)."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or value.get("type") != "doc":
        raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document Format)")
    return "\n\n".join(_inline(block) for block in value.get("content", []))


def _inline(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    return "".join(_inline(child) for child in node.get("content", []))
