"""Start-up validation: the rules for auth, and clear messages for every bad option at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.security import SecurityConfigError, build_policy, is_loopback


def problems(settings: Settings) -> str:
    with pytest.raises(SecurityConfigError) as caught:
        build_policy(settings)
    return str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "localhost", "::1", "[::1]"])
def test_loopback_without_tokens_means_auth_off(host: str) -> None:
    assert is_loopback(host)
    policy = build_policy(Settings(host=host))
    assert not policy.auth_enabled
    assert "auth: off" in policy.describe()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "bridge.internal"])
def test_non_loopback_without_tokens_is_refused_with_a_clear_message(host: str) -> None:
    assert not is_loopback(host)
    message = problems(Settings(host=host))
    assert host in message and "--auth-token" in message and "--auth-disabled" in message


def test_non_loopback_with_auth_explicitly_disabled_starts() -> None:
    policy = build_policy(Settings(host="0.0.0.0", auth_disabled=True))
    assert not policy.auth_enabled


def test_non_loopback_with_a_token_starts_with_auth_on() -> None:
    policy = build_policy(Settings(host="0.0.0.0", auth_tokens=("t0ken-value-0123456789",)))
    assert policy.auth_enabled
    assert "t0ken-value" not in policy.describe()


@pytest.mark.parametrize("token", ["changeme", "change-me-to-a-long-random-token", "<your-token-here>",
                                   "REPLACE_WITH_A_SECRET_VALUE", "xxxxxxxxxxxxxxxxxxxx"])
def test_a_placeholder_token_on_a_non_loopback_address_is_refused(token: str) -> None:
    message = problems(Settings(host="0.0.0.0", auth_tokens=(token,)))
    assert "auth token #1 is a placeholder" in message and "secrets.token_urlsafe" in message
    assert token not in message


def test_a_short_token_on_a_non_loopback_address_is_refused_and_every_one_is_named(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("abc\n" + "k" * 8 + "-long-enough-token\n")
    message = problems(Settings(host="10.0.0.5", auth_tokens=("s3cr3t", "q" * 16), auth_token_file=token_file))
    assert "auth token #1 has 6 characters" in message and "at least 16" in message
    assert "auth token #2" not in message
    assert f"token #1 of {str(token_file)!r} has 3 characters" in message and "token #2 of" not in message
    assert "s3cr3t" not in message


def test_on_loopback_a_short_token_is_the_operator_s_choice() -> None:
    assert build_policy(Settings(host="127.0.0.1", auth_tokens=("abc",))).auth_enabled


def test_auth_disabled_with_tokens_is_a_contradiction() -> None:
    assert "disabled" in problems(Settings(auth_disabled=True, auth_tokens=("abc",)))


def test_token_file_missing_or_bad_is_a_startup_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert str(missing) in problems(Settings(auth_token_file=missing))
    bad = tmp_path / "tokens"
    bad.write_text("good-token\nhas a space-secretpart\n")
    message = problems(Settings(auth_token_file=bad))
    assert "line 2" in message and "secretpart" not in message


def test_empty_token_file_means_auth_on_and_nobody_in_yet(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# filled in later\n")
    policy = build_policy(Settings(host="0.0.0.0", auth_token_file=path))
    assert policy.tokens is not None and policy.tokens.count == 0
    assert policy.tokens.authenticate("anything") is None


def test_bad_inline_token_is_named_by_position_not_value() -> None:
    message = problems(Settings(auth_tokens=("ok-token", "bad,secretpart")))
    assert "#2" in message and "secretpart" not in message


def test_every_problem_is_reported_at_once() -> None:
    settings = Settings(
        allowed_hosts=("http://app.example/",),
        allowed_origins=("app.example",),
        trusted_proxies=("not-an-ip",),
        cors_origins=("http://localhost:*",),
        header_env=("X Bad=VAR",),
        base_url="ftp://x",
    )
    message = problems(settings)
    lines = message.splitlines()
    assert len(lines) == 6, message
    for fragment in ("http://app.example/", "app.example", "not-an-ip", "wildcard ports", "X Bad", "ftp://x"):
        assert fragment in message


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        (["X-Jira-Token"], "HEADER=VAR"),
        (["X-Jira-Token="], "HEADER=VAR"),
        (["X(Jira)=JIRA"], "not a valid HTTP header name"),
        (["X-Jira-Token=1JIRA"], "not a valid environment variable name"),
        (["X-Jira-Token=JIRA-TOKEN"], "not a valid environment variable name"),
        (["X-Jira-Token=A", "x-jira-token=B"], "mapped twice"),
        (["X-One=JIRA", "X-Two=JIRA"], "two headers"),
        (["X-Lib=LD_PRELOAD"], "controls how programs run"),
        (["X-Py=PYTHONPATH"], "controls how programs run"),
        (["X-Path=PATH"], "controls how programs run"),
    ],
)
def test_header_env_entries_are_validated(entries: list[str], fragment: str) -> None:
    assert fragment in problems(Settings(header_env=tuple(entries)))


def test_header_env_missing_policy_is_validated() -> None:
    bad = Settings(header_env=("X-A=A",), header_env_missing="402")
    assert "401, 400, allow" in problems(bad)


def test_mapping_authorization_is_refused_only_when_auth_is_on() -> None:
    mapped = ("Authorization=UPSTREAM_AUTH",)
    assert "Authorization" in problems(Settings(auth_tokens=("abc",), header_env=mapped))
    assert build_policy(Settings(header_env=mapped)).header_env


def test_defaults_cover_loopback_bind_host_and_public_url() -> None:
    policy = build_policy(Settings(host="10.0.0.5", base_url="https://mcp.example.com/prefix", auth_tokens=("a-long-enough-token-0123",)))
    for host in ("127.0.0.1:1", "localhost:2", "[::1]:3", "10.0.0.5:8000", "mcp.example.com", "mcp.example.com:443"):
        assert policy.hosts.allows(host), host
    assert not policy.hosts.allows("example.com")
    for origin in ("http://localhost:5173", "https://mcp.example.com"):
        assert policy.origins.allows(origin), origin
    assert not policy.origins.allows("https://mcp.example.com:8443")


def test_unspecified_bind_address_adds_no_host() -> None:
    policy = build_policy(Settings(host="0.0.0.0", auth_disabled=True))
    assert not policy.hosts.allows("0.0.0.0:8000")


def test_public_url_with_a_port_keeps_it_in_the_origin() -> None:
    policy = build_policy(Settings(base_url="http://gw.example:8080/"))
    assert policy.origins.allows("http://gw.example:8080")
    assert not policy.origins.allows("http://gw.example")


def test_cors_origins_are_also_allowed_origins() -> None:
    policy = build_policy(Settings(cors_origins=("https://inspector.example",)))
    assert policy.origins.allows("https://inspector.example")
    assert policy.cors.allows("https://inspector.example")
    assert not policy.cors.allows("http://localhost:3000")


@pytest.mark.parametrize("url", ["ftp://x", "https://", "http://x:99999/", "mcp.example.com"])
def test_bad_public_base_url(url: str) -> None:
    assert "public base URL" in problems(Settings(base_url=url))


def test_a_bad_cors_origin_is_reported_once() -> None:
    assert len(problems(Settings(cors_origins=("nonsense",))).splitlines()) == 1
