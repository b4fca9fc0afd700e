"""The client's sessions read the environment's HTTP settings once per host, as requests
would read them for each request."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

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


TOKEN = {"Authorization": "Bearer abc"}


def _prepared(session: requests.Session, *args: Any, **kwargs: Any) -> tuple[object, ...]:
    """What goes on the wire (the cookies in their header), and the hooks it carries."""
    prepared = session.prepare_request(requests.Request(*args, **kwargs))
    return (prepared.method, prepared.url, list(prepared.headers.items()), prepared.body,
            prepared.hooks)


def _user_agent(session: requests.Session) -> None:
    session.headers["User-Agent"] = "changed"


def _cookie(session: requests.Session) -> None:
    session.cookies.set("session", "1", domain="127.0.0.1", path="/v1")


def _no_cookie(session: requests.Session) -> None:
    session.cookies.clear()


def _no_environment(session: requests.Session) -> None:
    session.trust_env = False


def _hook(session: requests.Session) -> None:
    session.hooks["response"].append(print)


REQUESTS: list[tuple[tuple[object, ...], dict[str, object]]] = [
    (("GET", URLS[0]), {"headers": TOKEN}),
    (("GET", URLS[2]), {"headers": TOKEN}),
    (("get", URLS[2] + "/items"), {"headers": TOKEN, "params": {"limit": 50, "offset": 0}}),
    (("GET", URLS[2] + "/items?x=1"), {"headers": TOKEN, "params": {"limit": 50, "gone": None}}),
    (("GET", "http://127.0.0.1:8123/v1/playlists/ä b%zz"), {"headers": TOKEN}),
    (("GET", URLS[2]), {"headers": {"Authorization": "Bearer other", "Accept": None}}),
    (("GET", URLS[3]), {"headers": {**TOKEN, "User-Agent": "mine"}}),
    (("GET", "http://user:pw@127.0.0.1:8123/v1/me"), {"headers": TOKEN}),
    (("POST", URLS[1]), {"data": {"grant_type": "client_credentials"}, "auth": ("id", "secret")}),
    (("POST", URLS[1]), {"headers": TOKEN}),
    (("PUT", URLS[2]), {"headers": TOKEN, "json": {"a": 1}}),
    (("GET", URLS[2]), {"headers": TOKEN, "cookies": {"c": "1"}}),
    (("GET", URLS[2]), {"headers": TOKEN, "hooks": {"response": [print]}}),
]


@pytest.mark.parametrize("netrc", [False, True])
def test_every_request_prepared_as_requests_prepares_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, netrc: bool
) -> None:
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login someone password secret\n" if netrc else "")
    monkeypatch.setenv("NETRC", str(netrc_file))
    ours, theirs = HostSession(), requests.Session()
    for _ in range(2):  # prepared, then from what was kept
        for args, kwargs in REQUESTS:
            assert _prepared(ours, *args, **kwargs) == _prepared(theirs, *args, **kwargs)
    # the session's own settings change: so does each request
    for change in (_user_agent, _cookie, _no_cookie, _no_environment, _hook):
        change(ours)
        change(theirs)
        for args, kwargs in REQUESTS:
            assert _prepared(ours, *args, **kwargs) == _prepared(theirs, *args, **kwargs)


def test_the_settings_are_merged_once_per_method_host_and_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = HostSession()
    session.prepare_request(requests.Request("GET", URLS[2], headers=TOKEN))
    merged: list[object] = []
    real: Any = requests.sessions.merge_setting

    def counted(*args: Any, **kwargs: Any) -> Any:
        merged.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(requests.sessions, "merge_setting", counted)
    first = session.prepare_request(requests.Request("GET", URLS[2] + "/items", headers=TOKEN,
                                                     params={"offset": 50}))
    assert merged == []
    assert first.url == URLS[2] + "/items?offset=50"
    first.headers["X-Mine"] = "1"  # a request's copy is its own: the next one is as kept
    again = session.prepare_request(requests.Request("GET", URLS[2], headers=TOKEN))
    assert "X-Mine" not in again.headers and again.url == URLS[2]
    session.prepare_request(requests.Request("GET", URLS[2], headers={"Authorization": "x"}))
    assert merged  # other headers (a new token): requests merges them


BIG = bytes(range(256)) * 400  # ~100 KB, as a 100-track page


class _Answers(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = gzip.compress(BIG) if self.path == "/gzip" else BIG
        self.send_response(200)
        if self.path == "/gzip":
            self.send_header("Content-Encoding", "gzip")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 30_000):
                part = body[start:start + 30_000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/broken":  # the connection lost in the middle of the answer
            self.wfile.write(body[:1000])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    _env(monkeypatch)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_is_read_in_one_piece_as_requests_reads_it(
    answers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    real: Any = urllib3.response.HTTPResponse.read

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", counted)
    with HostSession() as ours, requests.Session() as theirs:
        for path in ("/plain", "/gzip", "/chunked"):
            for _ in range(2):  # the connection goes back to the pool and is used again
                mine = ours.get(answers + path, timeout=10)
                assert mine.content == BIG and mine.status_code == 200
                assert theirs.get(answers + path, timeout=10).content == BIG
        reads.clear()
        assert ours.get(answers + "/plain", timeout=10).content == BIG
        assert len(reads) == 1
        streamed = ours.get(answers + "/plain", timeout=10, stream=True)  # left to the caller
        assert reads[1:] == [] and streamed.raw.read() == BIG


def test_an_answer_broken_midway_is_the_error_requests_gives(answers: str) -> None:
    with HostSession() as ours, requests.Session() as theirs:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            theirs.get(answers + "/broken", timeout=10)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            ours.get(answers + "/broken", timeout=10)
