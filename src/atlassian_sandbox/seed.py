"""Seeded users and credentials (importable so tests can sign in as any of them)."""

from __future__ import annotations

from dataclasses import dataclass

ALL_PROJECTS: tuple[str, ...] = ("DEMO", "OPS", "SEC")


@dataclass(frozen=True)
class User:
    """One account, with the credentials both deployment types accept for it."""

    name: str  # Server/DC username (also its user key)
    display_name: str
    email: str
    account_id: str  # Cloud accountId
    api_token: str  # Cloud: Basic email:api_token; DC: Basic name:api_token
    personal_token: str  # Bearer, both modes
    can_write: bool
    projects: tuple[str, ...]  # Jira projects this user may see

    @property
    def key(self) -> str:
        return self.name

    def sees(self, project_key: str) -> bool:
        return project_key in self.projects


ALICE = User(
    name="alice",
    display_name="Alice Admin",
    email="alice@example.com",
    account_id="5b10a2844c20165700ede21a",
    api_token="alice-api-token",
    personal_token="alice-pat-0001",
    can_write=True,
    projects=ALL_PROJECTS,
)
BOB = User(
    name="bob",
    display_name="Bob Builder",
    email="bob@example.com",
    account_id="5b10ac8d82e05b22cc7d4ef5",
    api_token="bob-api-token",
    personal_token="bob-pat-0002",
    can_write=True,
    projects=ALL_PROJECTS,
)
CAROL = User(
    name="carol",
    display_name="Carol Coder",
    email="carol@example.com",
    account_id="5b109f2e9729b51b54dc274d",
    api_token="carol-api-token",
    personal_token="carol-pat-0003",
    can_write=True,
    projects=ALL_PROJECTS,
)
VIEWER = User(
    name="viewer",
    display_name="Vera Viewer",
    email="viewer@example.com",
    account_id="5d53f3cbc6b9320d9ea5bdc2",
    api_token="viewer-api-token",
    personal_token="viewer-pat-0004",
    can_write=False,
    projects=("DEMO", "OPS"),
)

USERS: dict[str, User] = {u.name: u for u in (ALICE, BOB, CAROL, VIEWER)}


def by_account_id(account_id: str) -> User | None:
    return next((u for u in USERS.values() if u.account_id == account_id), None)


def server_env(base_url: str, mode: str = "cloud", user: User = ALICE) -> dict[str, str]:
    """The environment `mcp-jira-confluence` needs to work against a sandbox at `base_url` as `user`.

    Cloud signs in with Basic email + API token; Server/DC with a personal access token.
    """
    base = base_url.rstrip("/")
    if mode == "cloud":
        return {
            "JIRA_URL": base,
            "JIRA_USERNAME": user.email,
            "JIRA_API_TOKEN": user.api_token,
            "CONFLUENCE_URL": f"{base}/wiki",
            "CONFLUENCE_USERNAME": user.email,
            "CONFLUENCE_API_TOKEN": user.api_token,
        }
    if mode != "dc":
        raise ValueError(f"mode must be 'cloud' or 'dc', not {mode!r}")
    return {
        "JIRA_URL": base,
        "JIRA_PERSONAL_TOKEN": user.personal_token,
        "CONFLUENCE_URL": f"{base}/confluence",
        "CONFLUENCE_PERSONAL_TOKEN": user.personal_token,
    }
