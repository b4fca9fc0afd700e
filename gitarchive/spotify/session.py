"""A ``requests.Session`` that works out once per host what requests would every request.

For every request, ``requests`` looks at the environment again: the proxies
(``HTTPS_PROXY``, ``NO_PROXY``... every variable walked twice) and the CA bundle
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``). Measured at ~0.25 ms of CPU a request,
a fetch of 1,000 playlists spent ~0.25 s on it, in the one process whose CPU is the
run's wall time. What requests finds depends only on the environment, the URL's
scheme and host (and port) and the session's own settings, none of which changes
during a run; so it is asked once per scheme and host and its answer reused (a copy
each time: requests may add to it). Requests with settings of their own (proxies,
verify, cert, stream given) are left to requests, as before.

Preparing a request is the same story: requests merges the session's headers, cookies,
hooks and ``~/.netrc`` into each request anew (~0.17 ms of CPU, most of it type checks;
~3,000 requests a fetch, in threads that share one GIL). For a plain request (no body,
cookies, auth or hooks, an empty cookie jar) all of that depends only on the method, the
scheme and host, the headers and the session's own settings: requests prepares it once
for that key, and each request is a copy with requests' own ``prepare_url`` for its URL.
Anything else, and any session that holds a cookie, is prepared by requests as before.

An answer's body is read in one piece: requests reads it in 10 KiB chunks through
urllib3's stream (ten reads, each with its own bookkeeping, for a 100-track page), ~0.14
ms more CPU an answer than one read. The same body, by requests' own ``iter_content``
(so a connection broken mid-answer is the same error), asked for everything at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

_TEMPLATES_KEPT = 16  # keys per session: the token is in a header, renewed hourly


class HostSession(requests.Session):
    """``requests.Session`` with the environment's settings remembered per scheme and host."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], Any] = {}  # requests' settings, as it gave them
        self._templates: dict[tuple[Any, ...], requests.PreparedRequest] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, {}, None, None, None)
            self._environment[key] = found
        settings = dict(found)
        settings["proxies"] = dict(found["proxies"])
        return settings

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("stream"):  # the caller reads the body: as requests leaves it
            return super().send(request, **kwargs)
        response = super().send(request, **{**kwargs, "stream": True})
        try:
            body = b"".join(response.iter_content(None))  # one read; requests' errors
        except BaseException:
            response.close()
            raise
        response._content = body  # what .content would have joined from its chunks
        return response

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        key = self._plain_key(request)
        if key is None:
            return super().prepare_request(request)
        template = self._templates.get(key)
        if template is None:
            method, scheme, netloc = key[:3]
            template = super().prepare_request(
                requests.Request(method, f"{scheme}://{netloc}/", headers=request.headers))
            if len(self._templates) >= _TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = template
        prepared = template.copy()
        params = {name: value for name, value in request.params.items() if value is not None}
        prepared.prepare_url(request.url, params or None)  # {} encodes to nothing: skip it
        return prepared

    def _plain_key(self, request: requests.Request) -> tuple[Any, ...] | None:
        """What a plain request's preparation depends on besides its URL; None if not plain.

        Plain: a str http(s) URL without user info, params a dict, and no body, files,
        auth, cookies or hooks, on this session or the request; the session's cookie jar
        empty (a cookie is matched against each URL's path: requests does that).
        """
        url, method, headers, params = request.url, request.method, request.headers, request.params
        if (not isinstance(url, str) or not isinstance(method, str) or type(headers) is not dict
                or type(params) is not dict or self.params or request.files or request.data
                or request.json is not None or request.auth is not None or self.auth is not None
                or request.cookies or len(self.cookies) or any(request.hooks.values())
                or any(self.hooks.values())):
            return None
        scheme, netloc = urlsplit(url)[:2]
        if scheme not in ("http", "https") or not netloc or "@" in netloc:
            return None
        key = (method.upper(), scheme, netloc, self.trust_env, tuple(headers.items()),
               tuple(self.headers.items()))
        try:
            hash(key)
        except TypeError:  # a header value requests will refuse: let it say so
            return None
        return key
