"""A ``requests.Session`` that reads the environment's HTTP settings once per host.

For every request, ``requests`` looks at the environment again: the proxies
(``HTTPS_PROXY``, ``NO_PROXY``... every variable walked twice) and the CA bundle
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``). Measured at ~0.25 ms of CPU a request,
a fetch of 1,000 playlists spent ~0.25 s on it, in the one process whose CPU is the
run's wall time. What requests finds depends only on the environment, the URL's
scheme and host (and port) and the session's own settings, none of which changes
during a run; so it is asked once per scheme and host and its answer reused (a copy
each time: requests may add to it). Requests with settings of their own (proxies,
verify, cert, stream given) are left to requests, as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests


class HostSession(requests.Session):
    """``requests.Session`` with the environment's settings remembered per scheme and host."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], Any] = {}  # requests' settings, as it gave them

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
