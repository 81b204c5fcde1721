"""Who is calling: Basic (email or name with an API token) and Bearer personal tokens."""

from __future__ import annotations

import base64
import binascii

from atlassian_sandbox.seed import USERS, User

REALM = "Atlassian Sandbox"
CHALLENGES = (f'Basic realm="{REALM}"', f'Bearer realm="{REALM}"')
UNAUTHENTICATED = {
    "jira": "You are not authenticated. Authentication required to perform this operation.",
    "confluence": "This request requires authentication. Please check your credentials.",
}


def _basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, secret = decoded.partition(":")
    return (login, secret) if sep else None


def authenticate(authorization: str | None, mode: str) -> User | None:
    """The user these credentials belong to in this mode, or None.

    Cloud takes Basic `email:api_token`; Server/DC takes Basic `name:api_token` (the token stands in
    for the password); both take Bearer with a personal access token.
    """
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        token = value.strip()
        return next((u for u in USERS.values() if token and u.personal_token == token), None)
    if scheme != "basic":
        return None
    pair = _basic(value)
    if pair is None:
        return None
    login, secret = pair
    for user in USERS.values():
        wanted = user.email if mode == "cloud" else user.name
        if login.lower() == wanted.lower() and secret == user.api_token:
            return user
    return None
