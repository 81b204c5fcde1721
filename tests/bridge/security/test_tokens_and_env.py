"""The token store (reload pacing, ids) and the header-to-environment mapping, on their own."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from bridge.http import Headers, HttpError
from bridge.security import HeaderEnv, TokenFileError, TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_credential_ids_are_stable_distinct_and_not_the_token() -> None:
    store = TokenStore(["alpha-token", "beta-token"])
    a = store.authenticate("alpha-token")
    b = store.authenticate("beta-token")
    assert a is not None and b is not None and a != b
    assert a == store.authenticate("alpha-token") == store.credential_id("alpha-token")
    assert "alpha" not in a and len(a) == 16
    assert store.authenticate("gamma-token") is None
    assert store.authenticate("alpha-toke") is None
    assert store.authenticate("") is None
    # Another process (another key) gives other ids: an id says nothing about the token.
    assert TokenStore(["alpha-token"]).credential_id("alpha-token") != a


def test_file_is_looked_at_no_more_than_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("first-token\n")
    clock = Clock()
    store = TokenStore(file=path, clock=clock)
    first_id = store.authenticate("first-token")
    assert first_id is not None
    path.write_text("second-token\n")
    clock.now += 0.5
    assert store.authenticate("second-token") is None  # not looked at yet
    clock.now += 0.6
    assert store.authenticate("second-token") is not None
    assert store.authenticate("first-token") is None
    path.write_text("first-token\nsecond-token\n")
    clock.now += 1.0
    assert store.authenticate("first-token") == first_id  # same id across reloads


def test_same_size_rewrite_is_seen_through_mtime(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("aaaa-token\n")
    clock = Clock()
    store = TokenStore(file=path, clock=clock)
    path.write_text("bbbb-token\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    clock.now += 1.0
    assert store.authenticate("bbbb-token") is not None


def test_inline_tokens_survive_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("file-token\n")
    clock = Clock()
    store = TokenStore(["inline-token"], path, clock=clock)
    assert store.count == 2
    path.write_text("")
    clock.now += 1.0
    assert store.authenticate("inline-token") is not None
    assert store.authenticate("file-token") is None


def test_file_broken_later_keeps_previous_tokens(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens"
    path.write_text("kept-token\n")
    clock = Clock()
    store = TokenStore(file=path, clock=clock)
    path.write_text("kept-token\nbad token-secretpart\n")
    clock.now += 1.0
    assert store.authenticate("kept-token") is not None
    path.unlink()
    clock.now += 1.0
    assert store.authenticate("kept-token") is not None
    assert "line 2" in caplog.text and "cannot be read" in caplog.text
    assert "secretpart" not in caplog.text and "kept-token" not in caplog.text


def test_missing_file_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="cannot be read"):
        TokenStore(file=tmp_path / "absent")


MAPPED = HeaderEnv.parse(["X-Jira-Token=JIRA_API_TOKEN", "X-Jira-Email=JIRA_USERNAME"])


def test_child_env_reads_mapped_headers_case_insensitively() -> None:
    headers = Headers([(b"x-jira-token", b" tok "), (b"x-jira-email", b"me@example.com"), (b"x-other", b"no")])
    assert MAPPED.child_env(headers.text()) == {"JIRA_API_TOKEN": "tok", "JIRA_USERNAME": "me@example.com"}
    assert MAPPED.child_env({"X-JIRA-TOKEN": "t", "x-jira-email": "e"}) == {"JIRA_API_TOKEN": "t", "JIRA_USERNAME": "e"}
    assert MAPPED.header_names == ("X-Jira-Token", "X-Jira-Email")


def test_each_call_builds_a_fresh_environment() -> None:
    first = MAPPED.environment({"KEEP": "1"}, {"x-jira-token": "one", "x-jira-email": "a"})
    second = MAPPED.environment({"KEEP": "1"}, {"x-jira-token": "two", "x-jira-email": "b"})
    assert first["JIRA_API_TOKEN"] == "one" and second["JIRA_API_TOKEN"] == "two"
    first["JIRA_API_TOKEN"] = "changed"
    assert second["JIRA_API_TOKEN"] == "two"


@pytest.mark.parametrize("headers", [{}, {"x-jira-token": "   ", "x-jira-email": "e"}])
def test_missing_header_is_401_by_default(headers: dict[str, str]) -> None:
    with pytest.raises(HttpError) as caught:
        MAPPED.child_env({"x-jira-email": "secret-mail", **headers})
    error = caught.value
    assert (error.status, error.reason) == (401, "missing_header")
    assert dict(error.headers)[b"www-authenticate"] == b'Bearer realm="mcp-bridge", error="invalid_request"'
    body = orjson.loads(error.body)
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert "X-Jira-Token" in body["error"]["message"] and "X-Jira-Email" not in body["error"]["message"]
    assert b"secret-mail" not in error.body and "secret-mail" not in str(error)


def test_missing_header_policies() -> None:
    lenient = HeaderEnv.parse(["X-Jira-Token=JIRA_API_TOKEN"], "allow")
    assert lenient.environment({"JIRA_API_TOKEN": "operator", "HOME_DIR": "/x"}, {}) == {"HOME_DIR": "/x"}
    strict = HeaderEnv.parse(["X-Jira-Token=JIRA_API_TOKEN", "X-B=B"], "400")
    with pytest.raises(HttpError) as caught:
        strict.child_env({})
    assert (caught.value.status, caught.value.reason) == (400, "missing_header")
    assert not caught.value.headers
    assert "headers X-Jira-Token, X-B" in orjson.loads(caught.value.body)["error"]["message"]


def test_value_with_nul_is_refused_without_echo() -> None:
    with pytest.raises(HttpError) as caught:
        MAPPED.child_env({"x-jira-token": "abc\x00secret", "x-jira-email": "e"})
    assert caught.value.status == 400
    assert b"secret" not in caught.value.body


def test_no_mapping_means_nothing_read_and_base_untouched() -> None:
    empty = HeaderEnv.parse([])
    assert not empty
    assert empty.child_env({"x-jira-token": "t"}) == {}
    assert empty.environment({"JIRA_API_TOKEN": "op"}, {"x-jira-token": "t"}) == {"JIRA_API_TOKEN": "op"}
