"""Bearer tokens: the configured set, hot-reloaded from a file, their credential ids, the 401 challenge.

Tokens are kept only as keyed digests (HMAC-SHA256 under a key made at start-up), so comparing a
presented token is one HMAC plus a constant-time compare against every known digest. The first
bytes of a digest, in hex, are the token's credential id: stable for the life of the process and
across reloads, distinct per token, and useless to anyone without the key. Sessions are bound to it.

The file (one token per line, blank lines and `#` comment lines ignored) is re-read when its
modification time, size or inode changes, looked at no more than once per `check_interval`
(a `stat` on the request path, at most once a second by default). A file that is missing or
malformed at start-up is an error; one that becomes so later is logged and the previous tokens stay.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

CREDENTIAL_ID_BYTES = 8
REALM = "mcp-bridge"


def www_authenticate(error: str | None = None) -> tuple[bytes, bytes]:
    """The `WWW-Authenticate` header of a 401: the Bearer scheme, our realm, and an RFC 6750 error."""
    value = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return (b"www-authenticate", value.encode("ascii"))


class TokenFileError(ValueError):
    """The token file cannot be used; the message names the file and line, never a token."""


def check_token(token: str, where: str) -> str:
    """A token as configured: visible ASCII, no spaces, no commas. Raises ValueError naming `where`."""
    if not token:
        raise ValueError(f"{where}: empty token")
    if not all("!" <= ch <= "~" and ch != "," for ch in token):
        raise ValueError(f"{where}: a token must be visible ASCII without spaces or commas")
    return token


MIN_TOKEN_LENGTH = 16
# Words of the values people leave in an example file; no random token contains them.
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replace", "placeholder", "example", "your-token",
                     "your_token", "yourtoken", "xxxx", "<", ">", "token-here", "secret-here")


def check_strength(token: str, where: str) -> str:
    """A token fit to guard a non-loopback address: at least `MIN_TOKEN_LENGTH` characters and no
    placeholder left from an example file. Raises ValueError naming `where` (never the token)."""
    how = "use a random one, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    lowered = token.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        raise ValueError(f"{where} is a placeholder, not a secret: {how}")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{where} has {len(token)} characters; a token guarding a non-loopback address "
                         f"needs at least {MIN_TOKEN_LENGTH}: {how}")
    return token


def read_token_file(path: Path) -> list[str]:
    """The tokens in `path`; raises TokenFileError when it cannot be read or a line is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"auth token file {str(path)!r} cannot be read: {type(exc).__name__}") from None
    tokens: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens.append(check_token(line, f"auth token file {str(path)!r} line {number}"))
        except ValueError as exc:
            raise TokenFileError(str(exc)) from None
    return tokens


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class TokenStore:
    """The tokens the bridge accepts right now."""

    def __init__(
        self,
        tokens: Iterable[str] = (),
        file: Path | None = None,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._file = file
        self._check_interval = check_interval
        self._clock = clock
        self._static = {self._digest(t) for t in tokens}
        self._from_file: set[bytes] = set()
        self._stamp: tuple[int, int, int] | None = None
        self._next_check = clock() + check_interval
        self._known: tuple[bytes, ...] = ()
        if file is not None:
            self._stamp = _stamp(file)
            self._from_file = {self._digest(t) for t in read_token_file(file)}
        self._known = tuple(self._static | self._from_file)

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    @property
    def count(self) -> int:
        """How many distinct tokens are accepted now (for start-up messages; never the tokens)."""
        return len(self._known)

    def credential_id(self, token: str) -> str:
        """The credential id a token has (whether or not it is accepted)."""
        return self._digest(token)[:CREDENTIAL_ID_BYTES].hex()

    def authenticate(self, token: str) -> str | None:
        """The credential id of `token` if it is accepted now, else None. Constant time per token."""
        self._maybe_reload()
        digest = self._digest(token)
        found = False
        for known in self._known:
            found |= hmac.compare_digest(digest, known)
        return digest[:CREDENTIAL_ID_BYTES].hex() if found else None

    def _maybe_reload(self) -> None:
        if self._file is None:
            return
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + self._check_interval
        stamp = _stamp(self._file)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            tokens = read_token_file(self._file)
        except TokenFileError as exc:
            log.warning("%s; keeping the %d tokens loaded before", exc, len(self._known))
            return
        self._from_file = {self._digest(t) for t in tokens}
        self._known = tuple(self._static | self._from_file)
        log.info("auth token file reloaded: %d tokens accepted", len(self._known))
