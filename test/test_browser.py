"""example/console.html and example/benchmark.html in a real headless Chromium.

The browser is driven over the Chrome DevTools Protocol (test/browser.py).
The pages come from the standalone server and, when Apache with mod_python is
installed, from a private httpd (test/httpd.py). Without Chromium every test
skips with a reason that starts with ``BROWSER NOT RUN:``.

Screenshots land in test-artifacts/. With MOD_PYWEBSOCKET_UPDATE_SCREENSHOT=1
the console screenshot also replaces docs/console.png (used by the README).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from test import httpd
from test.browser import (
    CONSOLE_TIMEOUT,
    Chromium,
    Page,
    click,
    connect,
    enabled_buttons,
    entries,
    fact,
    fill,
    require_chromium,
    state,
    wait_entry,
)
from test.conftest import EXAMPLE_DIR, REPO_ROOT, running_server

pytestmark = pytest.mark.timeout(240)

ARTIFACTS = os.path.join(REPO_ROOT, "test-artifacts")
DOCS_SCREENSHOT = os.path.join(REPO_ROOT, "docs", "console.png")
UPDATE_SCREENSHOT_ENV = "MOD_PYWEBSOCKET_UPDATE_SCREENSHOT"
TIMEOUT = CONSOLE_TIMEOUT


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    binary = require_chromium()
    with Chromium(binary) as chromium:
        yield chromium


@pytest.fixture
def page(browser: Chromium) -> Iterator[Page]:
    tab = browser.new_page()
    try:
        tab.call("Network.enable")
        tab.set_viewport(1280, 760)
        yield tab
    finally:
        browser.close_page(tab)


@pytest.fixture
def standalone_site() -> Iterator[str]:
    with running_server("-d", EXAMPLE_DIR) as server:
        yield f"http://127.0.0.1:{server.port}"


class Site(NamedTuple):
    kind: str  # "standalone" or "apache"
    base: str  # http://127.0.0.1:PORT


@pytest.fixture(params=["standalone", pytest.param("apache", marks=pytest.mark.apache)])
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    """A server with example/ as its document root and handler root."""
    if request.param == "standalone":
        with running_server("-d", EXAMPLE_DIR) as server:
            yield Site("standalone", f"http://127.0.0.1:{server.port}")
        return
    httpd.require_apache()
    with httpd.Httpd(EXAMPLE_DIR, document_root=EXAMPLE_DIR) as apache:
        yield Site("apache", f"http://127.0.0.1:{apache.port}")


# -- helpers --------------------------------------------------------------------


def handshake_response_headers(page: Page, url: str) -> dict[str, str]:
    """The 101 response headers of the last WebSocket the page opened to ``url``."""
    created = [e["requestId"] for e in page.events("Network.webSocketCreated") if e["url"] == url]
    assert created, f"the browser opened no WebSocket to {url}"
    response = page.wait_event(
        "Network.webSocketHandshakeResponseReceived", lambda e: e["requestId"] == created[-1], timeout=TIMEOUT
    )["response"]
    assert response["status"] == 101
    return {name.lower(): value for name, value in response["headers"].items()}


def normalized_extensions(value: str) -> list[list[str]]:
    """``'a; x = 1, b'`` -> ``[['a', 'x=1'], ['b']]``: compare extension lists, not spacing."""
    return [[part.replace(" ", "") for part in ext.split(";")] for ext in value.split(",") if ext.strip()]


def save_screenshot(page: Page, name: str, full_page: bool = False) -> str:
    path = os.path.join(ARTIFACTS, name)
    page.screenshot(path, full_page=full_page)
    return path


def only_loopback_requests(page: Page) -> list[str]:
    """Return the URLs the page fetched that are not on 127.0.0.1 (should be none)."""
    urls = [e["request"]["url"] for e in page.events("Network.requestWillBeSent")]
    urls += [e["url"] for e in page.events("Network.webSocketCreated")]
    return [u for u in urls if not u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:"))]


# -- console.html ---------------------------------------------------------------


def test_console_echo_session_and_close_codes(page: Page, site: Site, tmp_path: Any) -> None:
    host = site.base.removeprefix("http://")
    page.navigate(f"{site.base}/console.html")

    # Before connecting: the URL points at this host's /echo; only Connect can act.
    assert page.evaluate("document.getElementById('url').value") == f"ws://{host}/echo"
    assert state(page) == "CLOSED"
    assert enabled_buttons(page) == {"connect"}

    echo_url = f"ws://{host}/echo"
    start = connect(page, echo_url, protocols="chat, superchat")
    assert enabled_buttons(page) == {"disconnect", "send-text", "close"}  # no hex typed, no file chosen
    assert fact(page, "protocol") == "chat"

    # The extensions field shows what the server answered in its 101 response.
    answered = handshake_response_headers(page, echo_url).get("sec-websocket-extensions", "")
    shown = fact(page, "extensions")
    assert normalized_extensions(shown) == normalized_extensions(answered)
    assert wait_entry(page, start, kind="open")["extensions"] == shown

    # Text: typed, Enter sends; Shift+Enter starts a new line instead.
    page.focus("#text")
    page.type_text("Hello, console \u00e9")
    page.press_enter()
    assert wait_entry(page, start, kind="message", type="text")["text"] == "Hello, console \u00e9"
    assert wait_entry(page, start, kind="sent", type="text")["size"] == "17"  # UTF-8 bytes
    assert wait_entry(page, start, kind="message", type="text")["size"] == "17"
    index = len(entries(page))
    page.evaluate("document.getElementById('text').value = ''")
    page.type_text("two")
    page.press_enter(shift=True)
    page.type_text("lines")
    page.press_enter()
    assert wait_entry(page, index, kind="message", type="text")["text"] == "two\nlines"

    # Binary from hex: the button acts only on valid hex.
    fill(page, "hex", "0g")
    assert "send-hex" not in enabled_buttons(page)
    fill(page, "hex", "00 01 fe ff")
    assert "send-hex" in enabled_buttons(page)
    click(page, "send-hex")
    echoed = wait_entry(page, start, kind="message", type="binary")
    assert (echoed["size"], echoed["hex"]) == ("4", "00 01 fe ff")

    # Binary from a file.
    data = bytes(range(256)) + b"tail" * 11
    chosen = tmp_path / "payload.bin"
    chosen.write_bytes(data)
    page.set_files("#file", [str(chosen)])
    assert "send-file" in enabled_buttons(page)
    index = len(entries(page))
    click(page, "send-file")
    echoed = wait_entry(page, index, kind="message", type="binary")
    assert echoed["size"] == str(len(data))
    assert echoed["hex"].startswith("00 01 02 03") and echoed["hex"].endswith("(236 more bytes)")

    page.wait_for("document.getElementById('buffered').dataset.value === '0'", timeout=TIMEOUT)
    assert page.evaluate("document.getElementById('traffic').textContent") == "sent 4 messages, received 4 messages"

    # Close from the page with a code and a reason. /echo answers with its
    # default (1000, ''), and the close event reports what the server sent.
    fill(page, "close-code", "4000")
    fill(page, "close-reason", "done here")
    index = len(entries(page))
    click(page, "close")
    assert wait_entry(page, index, kind="closing")["code"] == "4000"
    closed = wait_entry(page, index, kind="close")
    assert (closed["code"], closed["reason"], closed["wasClean"]) == ("1000", "", "true")
    assert state(page) == "CLOSED"
    assert enabled_buttons(page) == {"connect"}

    # /close echoes the client's code and reason...
    connect(page, f"ws://{host}/close")
    index = len(entries(page))
    fill(page, "close-code", "4000")
    fill(page, "close-reason", "done here")
    page.focus("#close-reason")
    page.press_enter()  # Enter in the reason field closes
    closed = wait_entry(page, index, kind="close")
    assert (closed["code"], closed["reason"], closed["wasClean"]) == ("4000", "done here", "true")

    # ...and closes with the code and reason it is sent.
    connect(page, f"ws://{host}/close")
    index = len(entries(page))
    page.focus("#text")
    page.evaluate("document.getElementById('text').value = ''")
    page.type_text("4001 server says bye")
    page.press_enter()
    closed = wait_entry(page, index, kind="close")
    assert (closed["code"], closed["reason"], closed["wasClean"]) == ("4001", "server says bye", "true")

    # A code the browser refuses is reported in the log, not thrown away.
    connect(page, echo_url)
    index = len(entries(page))
    fill(page, "close-code", "1005")
    click(page, "close")
    assert wait_entry(page, index, kind="problem")
    assert state(page) == "OPEN"
    click(page, "disconnect")
    closed = wait_entry(page, index, kind="close")
    assert (closed["code"], closed["wasClean"]) == ("1000", "true")  # /echo answers a bare close with 1000

    assert only_loopback_requests(page) == []
    save_screenshot(page, f"console-{site.kind}.png")


@pytest.mark.parametrize(
    ("resource", "opens"),
    [("abort", True), ("internal_error", True), ("abort_handshake", False)],
)
def test_console_shows_dropped_connections_as_1006(page: Page, standalone_site: str, resource: str, opens: bool):
    page.navigate(f"{standalone_site}/console.html")
    fill(page, "url", f"ws://{standalone_site.removeprefix('http://')}/{resource}")
    click(page, "connect")
    closed = wait_entry(page, kind="close")
    assert (closed["code"], closed["reason"], closed["wasClean"]) == ("1006", "", "false")
    kinds = [entry["kind"] for entry in entries(page)]
    assert ("open" in kinds) is opens
    if not opens:
        assert kinds == ["connect", "error", "close"]
    assert enabled_buttons(page) == {"connect"}


def test_console_sends_page_cookies_and_stores_handshake_cookies(page: Page, standalone_site: str):
    page.navigate(f"{standalone_site}/console.html")
    page.evaluate("document.cookie = 'flavour=oatmeal; path=/'")
    connect(page, f"ws://{standalone_site.removeprefix('http://')}/cookie")
    received = wait_entry(page, kind="message", type="text")
    assert json.loads(received["text"]) == {"flavour": "oatmeal"}
    page.wait_for("document.cookie.includes('ws_visits=1')", timeout=TIMEOUT)


def test_console_fits_a_phone_sized_window(page: Page, standalone_site: str):
    page.set_viewport(375, 740, mobile=True)
    page.navigate(f"{standalone_site}/console.html")
    connect(page, f"ws://{standalone_site.removeprefix('http://')}/echo")
    page.focus("#text")
    page.type_text("a long message without spaces: " + "x" * 200)
    page.press_enter()
    wait_entry(page, kind="message", type="text")
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= viewport, "the console scrolls sideways on a phone"
    save_screenshot(page, "console-phone.png", full_page=True)


# -- benchmark.html -------------------------------------------------------------


def test_benchmark_runs_upload_download_and_echo(page: Page, standalone_site: str):
    page.navigate(f"{standalone_site}/benchmark.html")
    host = standalone_site.removeprefix("http://")
    assert page.evaluate("document.getElementById('url').value") == f"ws://{host}/bench"
    fill(page, "size", "65536")
    fill(page, "count", "150")
    page.evaluate("document.getElementById('mode').value = 'all'")
    click(page, "run")
    page.wait_for("document.getElementById('status').dataset.state === 'running'", timeout=TIMEOUT)
    page.wait_for("['done', 'error'].includes(document.getElementById('status').dataset.state)", timeout=120)
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('#results tr'), (tr) => Object.assign({}, tr.dataset,"
        " {note: tr.lastChild.textContent}))"
    )
    assert [(row["mode"], row["ok"], row["note"]) for row in rows] == [
        ("upload", "true", "ok"),
        ("download", "true", "ok"),
        ("echo", "true", "ok"),
    ]
    assert all(row["bytes"] == str(65536 * 150) and float(row["ms"]) > 0 for row in rows)
    assert page.evaluate("document.getElementById('status').dataset.state") == "done"
    assert only_loopback_requests(page) == []
    save_screenshot(page, "benchmark.png")


def test_console_screenshot_of_a_short_session(page: Page, standalone_site: str):
    """A tidy session for docs/console.png (written with MOD_PYWEBSOCKET_UPDATE_SCREENSHOT=1)."""
    page.set_viewport(1280, 720)
    page.navigate(f"{standalone_site}/console.html")
    connect(page, f"ws://{standalone_site.removeprefix('http://')}/echo", protocols="chat")
    page.focus("#text")
    page.type_text("Hello, mod_pywebsocket!")
    page.press_enter()
    wait_entry(page, kind="message", type="text")
    fill(page, "hex", "00 01 02 03 fe ff")
    click(page, "send-hex")
    wait_entry(page, kind="message", type="binary")
    page.evaluate("document.getElementById('text').value = '{\"json\": [1, 2, 3]}'")
    page.press_enter()
    page.wait_for("document.querySelectorAll('#log [data-kind=message]').length === 3", timeout=TIMEOUT)
    fill(page, "close-reason", "done")
    page.focus("#close-reason")
    page.press_enter()
    wait_entry(page, kind="close")
    page.focus("#url")
    path = save_screenshot(page, "console-session.png")
    if os.environ.get(UPDATE_SCREENSHOT_ENV):
        shutil.copyfile(path, DOCS_SCREENSHOT)
