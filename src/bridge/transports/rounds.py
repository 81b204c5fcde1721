"""Multi-round-trip requests of MCP 2026-07-28 in front of a child that asks the client directly.

A handshake-era child asks for sampling, elicitation or roots with a request of its own while it
works on a client's request. A 2026-07-28 client never receives a server request: instead the
answer to its request is `resultType: "input_required"` with `inputRequests` and a `requestState`,
and the client retries the same request with `inputResponses` and that state. So the bridge keeps
the child working (a `Round`: the child, its unanswered request, where its final answer goes),
answers the client `input_required`, and on the retry gives the child the client's answer as the
answer to its own request; the child's final answer, or its next question, goes back on the retry.

`requestState` is sealed (AES-GCM, a key of this process): its claims bind the round to its
principal, the method and name of the original request, an expiry and a single use, and its
plaintext prefix names the replica that holds the round (`<replica>.`), so another replica can say
so instead of failing obscurely. The claims hold a round id, never anything of the child.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

MAX_ROUNDS = 10  # rounds of one request, as the SDK's client allows
# The client capability each kind of input needs.
CAPABILITY_OF = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}


class StateError(ValueError):
    """A `requestState` this replica cannot take: tampered, expired, replayed or another's."""


class SealedState:
    """Seals and opens `requestState` tokens of this replica."""

    def __init__(self, replica: str) -> None:
        self.replica = replica
        self._prefix = replica + "."
        self._key = secrets.token_bytes(32)
        self._aead: Any = None  # AES-GCM, made at the first round: the import costs the bridge memory

    def _cipher(self) -> Any:
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(self._key)
        return self._aead

    def seal(self, claims: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._cipher().encrypt(nonce, json.dumps(claims).encode(), self._prefix.encode())
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str):
            raise StateError("requestState must be the string the server gave")
        replica, dot, body = token.partition(".")
        if not dot:
            raise StateError("requestState is not one this server gave")
        if replica != self.replica:
            raise StateError(f"requestState belongs to replica {replica!r}, not this one ({self.replica!r}): "
                             "send the retry to the replica that answered input_required")
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            claims = json.loads(self._cipher().decrypt(raw[:12], raw[12:], self._prefix.encode()))
        except (binascii.Error, ValueError, InvalidTag):
            raise StateError("requestState is not one this server gave (or was altered)") from None
        if not isinstance(claims, dict):
            raise StateError("requestState is not one this server gave")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
            raise StateError("requestState has expired: send the request again without it")
        return claims


@dataclass(eq=False)
class Round:
    """A request whose child waits for the client's input: what the retry must match and resume."""

    id: str
    principal: str
    method: str
    name: object
    child: Any  # the modern.PrincipalChild leased to this request alone
    stream: Any  # the request's destination in the child's session, re-pointed at each retry
    asked: dict[str, tuple[object, str]] = field(default_factory=dict)  # key -> (child's request id, method)
    rounds: int = 0
    expires: float = 0.0
    used: bool = False


class Rounds:
    """The rounds waiting for a client's retry, by id; each answered once, or expired."""

    def __init__(self, sealed: SealedState, seconds: float) -> None:
        self.sealed = sealed
        self.seconds = seconds  # how long a client has to answer one round (--input-timeout)
        self._waiting: dict[str, Round] = {}

    @property
    def waiting(self) -> bool:
        return bool(self._waiting)

    def open(self, principal: str, method: str, name: object, child: Any) -> Round:
        """A request that may need rounds; its stream is set when its destination is made."""
        return Round(secrets.token_urlsafe(12), principal, method, name, child, None)

    def wait(self, round_: Round) -> str:
        """Keep `round_` for the client's retry; the sealed `requestState` that names it."""
        round_.rounds += 1
        round_.used = False
        round_.expires = time.monotonic() + self.seconds
        self._waiting[round_.id] = round_
        return self.sealed.seal({"r": round_.id, "i": round_.rounds, "p": round_.principal, "m": round_.method,
                                 "n": round_.name, "k": sorted(round_.asked), "exp": time.time() + self.seconds})

    def take(self, token: object, principal: str, method: str, name: object) -> Round:
        """The round a retry resumes, once; `StateError` for a state that does not fit this retry."""
        claims = self.sealed.open(token)
        if claims.get("p") != principal:
            raise StateError("requestState was given to another principal")
        if claims.get("m") != method or claims.get("n") != name:
            raise StateError("requestState belongs to another request: retry the same method and name")
        round_ = self._waiting.get(str(claims.get("r")))
        # Only the state of the round now waiting: an earlier round's state of the same request is spent.
        if round_ is None or round_.used or claims.get("i") != round_.rounds:
            raise StateError("requestState was already used or its round has ended: send the request again")
        del self._waiting[round_.id]
        round_.used = True
        return round_

    def expired(self) -> list[Round]:
        """The rounds whose client did not come back in time (removed)."""
        now = time.monotonic()
        gone = [r for r in self._waiting.values() if r.expires <= now]
        for round_ in gone:
            del self._waiting[round_.id]
        return gone

    def drop(self, round_: Round) -> None:
        self._waiting.pop(round_.id, None)
