"""Work a process does once and then shares with every process forked from it.

A bridge's `--fork-server` template calls `warm` (`--fork-preload legacy_stdio.prefork:warm`) after
importing the server: each session's process then finds the certificate store and the markup
converters built and run once, in pages it shares with every other session, instead of building its own on first
use. Nothing here reads configuration: the certificate store is reused only while the session's
own environment chooses the same one (see `legacy_stdio.tls`).
"""

from __future__ import annotations

from legacy_stdio import markup, tls

SAMPLE_WIKI = "h2. Steps\n# open *the* _page_ [link|https://example.invalid]\n{code:python}x = 1{code}\n|a|b|"
SAMPLE_STORAGE = "<h2>Steps</h2><p><strong>x</strong> <a href='https://example.invalid'>y</a></p><ul><li>z</li></ul>"


def warm() -> None:
    tls.warm()
    # One conversion each way: the code that runs for every issue and page runs here first, so its
    # one-time work (compiled patterns, Python's specialised bytecode) is done in shared pages.
    markup.jira_to_markdown(SAMPLE_WIKI)
    markup.storage_to_markdown(SAMPLE_STORAGE)
    markup.markdown_to_jira("## Steps\n1. open **the** page\n")
    markup.markdown_to_storage("## Steps\n1. open **the** page\n")
