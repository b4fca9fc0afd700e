"""The client's sessions read the environment's HTTP settings once per host, as requests
would read them for each request."""

from __future__ import annotations

import pytest
import requests

from gitarchive.spotify.session import HostSession

URLS = [
    "https://api.spotify.com/v1/playlists/abc?limit=50",
    "https://accounts.spotify.com/api/token",
    "http://127.0.0.1:8123/v1/playlists/abc",
    "http://localhost:8123/v1/me",
]


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy",
                 "http_proxy", "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("env", [
    {},
    {"HTTPS_PROXY": "http://proxy.invalid:3128", "HTTP_PROXY": "http://other.invalid:80"},
    {"HTTPS_PROXY": "http://proxy.invalid:3128", "NO_PROXY": "accounts.spotify.com,127.0.0.1"},
    {"ALL_PROXY": "socks5://proxy.invalid:1080", "NO_PROXY": "localhost"},
    {"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"},
    {"CURL_CA_BUNDLE": "/nonexistent/curl.pem"},
])
def test_same_settings_as_requests_for_every_host(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    _env(monkeypatch, **env)
    ours, theirs = HostSession(), requests.Session()
    for _ in range(2):  # asked, then remembered
        for url in URLS:
            expected = theirs.merge_environment_settings(url, {}, None, None, None)
            assert ours.merge_environment_settings(url, {}, None, None, None) == expected


def test_read_once_per_host_and_never_shared_between_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch, HTTPS_PROXY="http://proxy.invalid:3128")
    session = HostSession()
    first = session.merge_environment_settings(URLS[0], {}, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://changed.invalid:1")
    first["proxies"]["https"] = "http://mutated.invalid:2"  # requests may add to its copy
    again = session.merge_environment_settings(URLS[0], {}, None, None, None)
    assert again["proxies"] == {"https": "http://proxy.invalid:3128"}
    other = session.merge_environment_settings(URLS[1], {}, None, None, None)
    assert other["proxies"] == {"https": "http://changed.invalid:1"}  # another host: read now


def test_settings_given_with_a_request_are_requests_own(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, HTTPS_PROXY="http://proxy.invalid:3128")
    ours, theirs = HostSession(), requests.Session()
    given = ({"https": "http://mine.invalid:1"}, None, False, None)
    assert (ours.merge_environment_settings(URLS[0], dict(given[0]), *given[1:])
            == theirs.merge_environment_settings(URLS[0], dict(given[0]), *given[1:]))


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the proxy the environment names is where the request goes."""
    _env(monkeypatch, HTTP_PROXY="http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(requests.exceptions.ProxyError):
        HostSession().get("http://example.invalid/", timeout=5)
