"""Confluence demo data: spaces ENG and DOCS, pages three levels deep, comments, labels, versions."""

from __future__ import annotations

from datetime import datetime, timedelta

from atlassian_sandbox.store import Content, ContentVersion, Space, Store

ARCHITECTURE = """<h1>Architecture Overview</h1>
<p>The platform is split into <strong>three services</strong> behind one gateway.</p>
<h2>Services</h2>
<ul><li><p>Gateway: routing and auth</p></li><li><p>Orders: checkout and payments</p></li><li><p>Search: indexing</p></li></ul>
<table><tbody><tr><th><p>Service</p></th><th><p>Owner</p></th><th><p>Language</p></th></tr>
<tr><td><p>Gateway</p></td><td><p>Alice</p></td><td><p>Go</p></td></tr>
<tr><td><p>Orders</p></td><td><p>Bob</p></td><td><p>Python</p></td></tr></tbody></table>
<ac:structured-macro ac:name="code" ac:schema-version="1"><ac:parameter ac:name="language">python</ac:parameter><ac:plain-text-body><![CDATA[def handler(event):
    return {"ok": True}]]></ac:plain-text-body></ac:structured-macro>
<p>See <a href="https://github.com/example/platform">the platform repository</a> and <ac:link><ri:page ri:content-title="Deployment Guide" /></ac:link>.</p>"""

PAGES: list[tuple[str, str | None, str, str, list[str]]] = [
    # (space, parent title or None for the space home, title, storage body, labels)
    ("ENG", None, "Engineering Home", "<h1>Engineering</h1><p>Welcome to the engineering space.</p>", []),
    ("ENG", "Engineering Home", "Architecture Overview", ARCHITECTURE, ["architecture", "design"]),
    ("ENG", "Architecture Overview", "Gateway Design",
     "<h2>Gateway</h2><p>Rate limits: 100 requests per minute per token.</p>"
     "<ol><li><p>Authenticate</p></li><li><p>Route</p></li></ol>", ["design", "gateway"]),
    ("ENG", "Architecture Overview", "Orders Service",
     "<h2>Orders</h2><p>Checkout uses a two-phase commit.</p>"
     '<ac:structured-macro ac:name="info"><ac:rich-text-body><p>Owned by Bob.</p></ac:rich-text-body>'
     "</ac:structured-macro>", ["design"]),
    ("ENG", "Gateway Design", "Gateway Rate Limiting",
     "<h3>Rate limiting</h3><p>Token bucket per API token; <code>429</code> with <em>Retry-After</em>.</p>",
     ["gateway", "howto"]),
    ("ENG", "Engineering Home", "Deployment Guide",
     "<h1>Deployment Guide</h1><ol><li><p>Build the image</p></li><li><p>Run migrations</p></li>"
     "<li><p>Roll out with <code>kubectl rollout</code></p></li></ol>"
     '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
     "<ac:plain-text-body><![CDATA[make deploy ENV=staging]]></ac:plain-text-body></ac:structured-macro>",
     ["howto", "deploy"]),
    ("ENG", "Deployment Guide", "Rollback Procedure",
     "<h2>Rollback</h2><p>Use the previous image tag &amp; re-run the pipeline.</p>", ["howto", "runbook"]),
    ("ENG", "Engineering Home", "Onboarding Checklist",
     "<h1>Onboarding</h1><ul><li><p>Get a laptop</p></li><li><p>Join the on-call rota</p></li></ul>",
     ["onboarding"]),
    ("DOCS", None, "Documentation Home", "<h1>Documentation</h1><p>User-facing documentation.</p>", []),
    ("DOCS", "Documentation Home", "User Guide",
     "<h1>User Guide</h1><p>How to use the product.</p><h2>Getting started</h2><p>Sign in first.</p>",
     ["guide"]),
    ("DOCS", "User Guide", "Checkout FAQ",
     "<h2>FAQ</h2><p><strong>Q:</strong> Can I pay later?</p><p><strong>A:</strong> Yes, with invoices.</p>",
     ["faq", "checkout"]),
    ("DOCS", "Checkout FAQ", "Payment Methods",
     "<table><tbody><tr><th><p>Method</p></th><th><p>Supported</p></th></tr>"
     "<tr><td><p>Card</p></td><td><p>Yes</p></td></tr></tbody></table>", ["checkout"]),
    ("DOCS", "Documentation Home", "Release Notes",
     "<h1>Release Notes</h1><h2>1.0</h2><ul><li><p>First release</p></li></ul>", ["release"]),
]

# The Deployment Guide has several versions (oldest first), the last one being the PAGES body.
DEPLOYMENT_HISTORY = [
    ("<h1>Deployment Guide</h1><p>TODO</p>", "alice", "Initial draft"),
    ("<h1>Deployment Guide</h1><ol><li><p>Build the image</p></li></ol>", "bob", "Add build step"),
]

COMMENTS = [
    ("Architecture Overview", "bob", "<p>Should the search service get its own page?</p>"),
    ("Architecture Overview", "carol", "<p>Yes, I will write it next sprint.</p>"),
    ("Deployment Guide", "carol", "<p>Staging needs the <code>ENV</code> variable set.</p>"),
    ("User Guide", "alice", "<p>Screenshots are out of date.</p>"),
]

SPACES = [("ENG", "Engineering", "Engineering docs and designs."), ("DOCS", "Documentation", "Product docs.")]


def populate(store: Store, now: datetime) -> None:
    for n, (key, name, description) in enumerate(SPACES):
        store.spaces[key] = Space(id=98300 + n, key=key, name=name, description=description)
    by_title: dict[str, Content] = {}
    for n, (space, parent, title, body, labels) in enumerate(PAGES):
        when = now - timedelta(days=60 - 4 * n, hours=n)
        versions = []
        if title == "Deployment Guide":
            for m, (old, by, message) in enumerate(DEPLOYMENT_HISTORY):
                versions.append(ContentVersion(m + 1, title, old, by, when - timedelta(days=10 - m), message))
        author = ("alice", "bob", "carol")[n % 3]
        versions.append(ContentVersion(len(versions) + 1, title, body, author, when, ""))
        page = Content(
            id=str(65536 + n * 3),
            type="page",
            space=space,
            parent_id=by_title[parent].id if parent else None,
            versions=versions,
            labels=list(labels),
            position=n,
        )
        store.contents[page.id] = page
        by_title[title] = page
        if parent is None:
            store.spaces[space].homepage_id = page.id
    for n, (title, author, body) in enumerate(COMMENTS):
        page = by_title[title]
        when = page.modified + timedelta(hours=n + 1)
        comment = Content(
            id=str(66000 + n),
            type="comment",
            space=page.space,
            parent_id=page.id,
            versions=[ContentVersion(1, f"Re: {title}", body, author, when)],
            position=n,
        )
        store.contents[comment.id] = comment


def page_id(store: Store, title: str) -> str:
    return next(c.id for c in store.contents.values() if c.type == "page" and c.title == title)
