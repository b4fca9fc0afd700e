"""A small Chrome DevTools protocol client over ``--remote-debugging-pipe`` (stdlib only).

Chromium reads commands from its fd 3 and writes answers and events to fd 4, each a
JSON message ending in a NUL byte; no websocket is needed. Used by the browser tests.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The browser binary: $CHROMIUM, else the first known name on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; ``page()`` opens a tab to drive."""

    def __init__(self, binary: str, profile: Path) -> None:
        cmd_read, self.cmd_write = os.pipe()
        self.out_read, out_write = os.pipe()
        args = [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--mute-audio", "--remote-debugging-pipe", f"--user-data-dir={profile}",
            "about:blank",
        ]
        # The pipes must be the browser's fds 3 and 4: a tiny exec wrapper moves them.
        script = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4);"
                  " os.execvp(sys.argv[3], sys.argv[3:])")
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(cmd_read), str(out_write), *args],
            pass_fds=(cmd_read, out_write),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(cmd_read)
        os.close(out_write)
        self.next_id = 0
        self.lock = threading.Lock()
        self.answers: dict[int, dict[str, Any]] = {}
        self.cond = threading.Condition()
        self.events: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self.read_answers, daemon=True)
        self.reader.start()

    def read_answers(self) -> None:
        buffer = b""
        with os.fdopen(self.out_read, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    with self.cond:
                        if "id" in message:
                            self.answers[message["id"]] = message
                        else:
                            self.events.append(message)
                        self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            ident = self.next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.cmd_write, json.dumps(message).encode() + b"\0")
        with self.cond:
            if not self.cond.wait_for(
                lambda: ident in self.answers or self.process.poll() is not None, timeout
            ):
                raise CDPError(f"no answer to {method} within {timeout} s")
            answer = self.answers.pop(ident, None)
        if answer is None:
            raise CDPError(f"the browser exited during {method}")
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, session: str, since: int, timeout: float = 30
                   ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for event in self.events[since:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            return None

        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise CDPError(f"no {method} within {timeout} s")
            return found()  # type: ignore[return-value]

    def page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        return page

    def close(self) -> None:
        with suppress(CDPError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.cmd_write)


class Page:
    """A tab: navigate, evaluate, screenshot, and the errors it reported."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def goto(self, url: str) -> None:
        since = len(self.browser.events)
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session, since)

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CDPError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int, *, mobile: bool = False) -> None:
        """The whole page at ``width`` CSS pixels."""
        height = int(self.eval("document.documentElement.scrollHeight"))
        self.viewport(width, min(max(height, 200), 8000), mobile=mobile)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported by this tab."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found


@contextmanager
def browser(binary: str, profile: Path) -> Iterator[Browser]:
    running = Browser(binary, profile)
    try:
        yield running
    finally:
        running.close()
