"""Drive a headless Chromium through the Chrome DevTools Protocol (test helper).

`Chromium` starts the browser with a fresh profile and
``--remote-debugging-port=0``, reads the port it picked from the
``DevToolsActivePort`` file in the profile, and keeps a CDP session on the
browser target. `Chromium.new_page` opens a tab and returns a `Page`: a CDP
session on that tab (over the `websockets` client) with the few helpers the
tests need: navigate, evaluate JavaScript, wait for a condition, type, capture
a screenshot.

How the session works: one connection per target, one request at a time.
`CdpSession.call` sends ``{"id", "method", "params"}`` and reads messages until
the answer with that id arrives; events read meanwhile are kept in arrival
order, so `CdpSession.wait_event` can find events that came before it was
called.

`require_chromium` skips the calling test with a reason that starts with
``BROWSER NOT RUN:`` when no Chromium is installed.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_client_connect

__all__ = [
    "BUTTON_IDS",
    "CONSOLE_TIMEOUT",
    "SKIP_PREFIX",
    "BrowserError",
    "BrowserUnavailable",
    "CdpSession",
    "Chromium",
    "JavascriptError",
    "Page",
    "click",
    "connect",
    "enabled_buttons",
    "entries",
    "fact",
    "fill",
    "find_chromium",
    "js",
    "require_chromium",
    "state",
    "wait_entry",
]

SKIP_PREFIX = "BROWSER NOT RUN:"

# The flags asked for by the project, plus a window size for screenshots.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1000,800",
)
_BINARY_NAMES = ("chromium", "chromium-browser")
_BINARY_ENV = "MOD_PYWEBSOCKET_CHROMIUM"


class BrowserUnavailable(Exception):
    """No Chromium binary is installed here."""


class BrowserError(Exception):
    """The browser did not start, or a CDP call failed or timed out."""


class JavascriptError(BrowserError):
    """A ``Runtime.evaluate`` expression threw."""


def find_chromium() -> str:
    """Return the path of the Chromium binary.

    ``$MOD_PYWEBSOCKET_CHROMIUM`` wins; else ``chromium`` (Debian) or
    ``chromium-browser`` on PATH.

    Raises:
        BrowserUnavailable: none is installed.
    """
    configured = os.environ.get(_BINARY_ENV)
    if configured:
        if shutil.which(configured) is None:
            raise BrowserUnavailable(f"${_BINARY_ENV}={configured} is not an executable")
        return configured
    for name in _BINARY_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserUnavailable(
        "no chromium on PATH; install Debian's chromium package (it is listed in "
        "requirements/debian.txt: sh tools/install-system-packages.sh)"
    )


def require_chromium() -> str:
    """Return the Chromium binary, or skip the test loudly when there is none."""
    try:
        return find_chromium()
    except BrowserUnavailable as exc:
        pytest.skip(f"{SKIP_PREFIX} {exc}")


class CdpSession:
    """A CDP connection to one target (the browser or a page).

    Args:
        url: the target's ``ws://127.0.0.1:PORT/devtools/...`` URL.
        timeout: default seconds to wait for an answer or an event.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        # No proxy (loopback only), no size limit (screenshots are large).
        # websockets wants connect() used as a context manager: keep it open in an ExitStack.
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(
            ws_client_connect(url, open_timeout=10, close_timeout=10, max_size=None, proxy=None, compression=None)
        )
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    def close(self) -> None:
        """Close the connection."""
        self._stack.close()

    def __enter__(self) -> CdpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        message: dict[str, Any] = json.loads(self._ws.recv(timeout=remaining))
        if "id" not in message:
            self._events.append(message)
        return message

    def call(self, method: str, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """Call a CDP method and return its result.

        Raises:
            BrowserError: the browser answered with an error, or not in time.
        """
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                message = self._read(deadline)
            except TimeoutError:
                raise BrowserError(f"no answer to {method} in time") from None
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def events(self, name: str) -> list[dict[str, Any]]:
        """Return the parameters of every event ``name`` received so far."""
        self._drain()
        return [event.get("params", {}) for event in self._events if event.get("method") == name]

    def _drain(self) -> None:
        """Read the events already waiting on the connection."""
        with contextlib.suppress(TimeoutError):
            while True:
                self._read(time.monotonic() + 0.001)

    def wait_event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda params: True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Return the parameters of the first event ``name`` (past or future) that matches.

        Raises:
            BrowserError: no such event in time.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = 0
        while True:
            for event in self._events[seen:]:
                if event.get("method") == name and predicate(event.get("params", {})):
                    return dict(event.get("params", {}))
            seen = len(self._events)
            try:
                self._read(deadline)
            except TimeoutError:
                raise BrowserError(f"no {name} event in time") from None

    def forget_events(self) -> None:
        """Drop the events kept so far."""
        self._events.clear()


class Page(CdpSession):
    """A CDP session on one tab, with helpers for driving a page."""

    def navigate(self, url: str, timeout: float | None = None) -> None:
        """Load ``url`` and wait for its load event.

        Raises:
            BrowserError: the navigation failed or did not finish in time.
        """
        self.call("Page.enable")
        self.forget_events()
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"cannot load {url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", timeout=timeout)

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """Evaluate JavaScript in the page and return its value (JSON types).

        Raises:
            JavascriptError: the expression threw.
        """
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise JavascriptError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        Raises:
            BrowserError: still falsy after ``timeout`` (the last value is in the message).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression!r} still {value!r} after {timeout:.0f} s")
            time.sleep(interval)

    def element_object_id(self, selector: str) -> str:
        """Return the remote object id of the element matching ``selector``."""
        result = self.call("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})")
        object_id = result["result"].get("objectId")
        if object_id is None:
            raise BrowserError(f"no element matches {selector!r}")
        return str(object_id)

    def set_files(self, selector: str, paths: list[str]) -> None:
        """Choose files in an ``<input type=file>``, as a user would."""
        self.call("DOM.setFileInputFiles", files=paths, objectId=self.element_object_id(selector))
        self.evaluate(
            f"document.querySelector({json.dumps(selector)}).dispatchEvent(new Event('change', {{bubbles: true}}))"
        )

    def focus(self, selector: str) -> None:
        """Give the keyboard focus to an element."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")

    def type_text(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self.call("Input.insertText", text=text)

    def press_enter(self, shift: bool = False) -> None:
        """Press and release the Enter key."""
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "modifiers": 8 if shift else 0}
        self.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **key)
        self.call("Input.dispatchKeyEvent", type="keyUp", **key)

    def set_viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """Emulate a window of ``width`` x ``height`` CSS pixels."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    def screenshot(self, path: str, full_page: bool = False) -> None:
        """Save a PNG of the page (the viewport, or the whole page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", **params)["data"]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as image:
            image.write(base64.b64decode(data))


class Chromium:
    """A headless Chromium with a fresh profile, driven over CDP.

    Typical use::

        with Chromium() as browser:
            page = browser.new_page()
            page.navigate("http://127.0.0.1:8880/console.html")

    Args:
        binary: the executable; None finds it with `find_chromium`.
        start_timeout: seconds to wait for the DevTools port.
    """

    def __init__(self, binary: str | None = None, start_timeout: float = 30.0) -> None:
        self._binary = binary
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None
        self._browser: CdpSession | None = None
        self._pages: list[tuple[str, Page]] = []
        self._log = ""
        self.port = 0

    @property
    def log_path(self) -> str:
        """The file that collects the browser's stdout and stderr."""
        assert self._profile is not None, "not started"
        return os.path.join(self._profile, "chromium.log")

    def log_text(self) -> str:
        """Return what the browser printed (also after `close`)."""
        if self._profile is not None and os.path.exists(self.log_path):
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return log.read()
        return self._log

    def start(self) -> Chromium:
        """Start the browser and connect to it.

        Raises:
            BrowserUnavailable: no Chromium is installed.
            BrowserError: it did not start in time (its output is in the message).
        """
        binary = self._binary or find_chromium()
        self._profile = tempfile.mkdtemp(prefix="pywebsocket-chromium-")
        profile_dir = os.path.join(self._profile, "profile")
        try:
            with open(self.log_path, "wb") as log:
                self._process = subprocess.Popen(
                    [
                        binary,
                        *CHROMIUM_FLAGS,
                        f"--user-data-dir={profile_dir}",
                        "--remote-debugging-port=0",
                        "about:blank",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its helpers share our pid as their group id
                )
            self.port, browser_path = self._read_active_port(os.path.join(profile_dir, "DevToolsActivePort"))
            self._browser = CdpSession(f"ws://127.0.0.1:{self.port}{browser_path}")
        except BaseException:
            self.close()
            raise
        return self

    def _read_active_port(self, path: str) -> tuple[int, str]:
        """Wait for Chromium to write its DevTools port and browser target path."""
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        while True:
            with contextlib.suppress(FileNotFoundError):
                with open(path, encoding="ascii") as active:
                    lines = active.read().split()
                if len(lines) == 2:
                    return int(lines[0]), lines[1]
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with status {self._process.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise BrowserError(f"no {path} after {self._start_timeout:.0f} s:\n{self.log_text()}")
            time.sleep(0.05)

    def new_page(self, timeout: float = 30.0) -> Page:
        """Open a new tab on about:blank and return a session on it."""
        assert self._browser is not None, "not started"
        target_id = self._browser.call("Target.createTarget", url="about:blank")["targetId"]
        page = Page(f"ws://127.0.0.1:{self.port}/devtools/page/{target_id}", timeout=timeout)
        self._pages.append((target_id, page))
        return page

    def close_page(self, page: Page) -> None:
        """Close a tab opened by `new_page`."""
        for index, (target_id, known) in enumerate(self._pages):
            if known is page:
                del self._pages[index]
                page.close()
                if self._browser is not None:
                    with contextlib.suppress(BrowserError):
                        self._browser.call("Target.closeTarget", targetId=target_id)
                return

    def close(self) -> None:
        """Close every tab, stop the browser and remove its profile."""
        for _, page in self._pages:
            page.close()
        self._pages.clear()
        process, self._process = self._process, None
        if self._browser is not None:
            # The browser may close the connection before it answers.
            with contextlib.suppress(Exception):
                self._browser.call("Browser.close", timeout=5)
            with contextlib.suppress(Exception):
                self._browser.close()
            self._browser = None
        if process is not None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                # Our own process group (start_new_session): the browser and its helpers.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self._profile is not None:
            self._log = self.log_text()
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- example/console.html -------------------------------------------------------

CONSOLE_TIMEOUT = 15.0
# Every log entry of the console as a plain object of its data-* attributes.
ENTRIES_JS = "Array.from(document.querySelectorAll('#log li'), (li) => Object.assign({}, li.dataset))"
BUTTON_IDS = ("connect", "disconnect", "send-text", "send-hex", "send-file", "close")


def js(value: Any) -> str:
    return json.dumps(value)


def entries(page: Page) -> list[dict[str, str]]:
    result: list[dict[str, str]] = page.evaluate(ENTRIES_JS)
    return result


def wait_entry(page: Page, start: int = 0, timeout: float = CONSOLE_TIMEOUT, **wanted: str) -> dict[str, str]:
    """Wait for a log entry at index ``start`` or later whose attributes match ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        found = entries(page)
        for entry in found[start:]:
            if all(entry.get(key) == value for key, value in wanted.items()):
                return entry
        if time.monotonic() > deadline:
            raise AssertionError(f"no log entry with {wanted} after index {start}; the log: {found}")
        time.sleep(0.05)


def state(page: Page) -> str:
    return str(page.evaluate("document.getElementById('state').dataset.state"))


def enabled_buttons(page: Page) -> set[str]:
    disabled = page.evaluate(f"{js(BUTTON_IDS)}.map((id) => document.getElementById(id).disabled)")
    return {name for name, off in zip(BUTTON_IDS, disabled) if not off}


def fill(page: Page, element_id: str, value: str) -> None:
    """Set a field's value the way typing does (an input event follows)."""
    page.evaluate(
        f"(() => {{ const e = document.getElementById({js(element_id)}); e.value = {js(value)};"
        " e.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )


def click(page: Page, element_id: str) -> None:
    page.evaluate(f"document.getElementById({js(element_id)}).click()")


def fact(page: Page, element_id: str) -> str:
    return str(page.evaluate(f"document.getElementById({js(element_id)}).dataset.value"))


def connect(page: Page, url: str, protocols: str = "") -> int:
    """Connect with the keyboard (Enter in the URL field); return the log index of the open event."""
    assert state(page) == "CLOSED"
    fill(page, "url", url)
    fill(page, "protocols", protocols)
    start = len(entries(page))
    page.focus("#url")
    page.press_enter()
    wait_entry(page, start, kind="open")
    assert state(page) == "OPEN"
    return start
