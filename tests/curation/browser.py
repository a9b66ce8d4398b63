"""Open a page in real headless Chromium and report what a person would see: console errors,
whether every image and audio clip decoded, and a screenshot.

The check speaks the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages separated
by NUL bytes on file descriptors 3 and 4 of the browser; no extra library): it enables the
Runtime and Log domains BEFORE navigating, so every ``console.*`` call, uncaught exception and
browser-side log entry of the page (a Content-Security-Policy refusal, a failed load) is
recorded; after the load event it waits until each ``<audio>`` has loaded its metadata or failed,
asks the page which ``<img>`` and ``<audio>`` elements did not decode, and takes a screenshot of
the top ``width`` x ``height`` CSS pixels.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PageCheck", "chromium", "open_page"]

_PROBE = """new Promise(resolve => {
  const audios = [...document.querySelectorAll('audio')];
  const settled = () => audios.every(a => a.error || a.readyState >= 1);
  const report = () => resolve(JSON.stringify({
    images: document.images.length,
    broken_images: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    audios: audios.length,
    broken_audios: audios.filter(a => a.error || !(a.duration > 0)).map((a, k) => k),
    height: document.documentElement.scrollHeight,
  }));
  const started = Date.now();
  const poll = () => (settled() || Date.now() - started > %d) ? report() : setTimeout(poll, 50);
  poll();
})"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    console: list[str] = field(default_factory=list)
    """Every console message, uncaught exception and error/warning log entry, as text."""
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    audios: int = 0
    broken_audios: list[int] = field(default_factory=list)
    height: int = 0
    screenshot: bytes = b""


class _Pipe:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.proc, self.out, self.inp = proc, to_browser, from_browser
        self.buffer, self.next_id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> Any:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit status {self.proc.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)


def _console_text(event: dict) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
        return f"console.{params.get('type')}: {args}"
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}"
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
        entry = params["entry"]
        return f"log {entry.get('level')} ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip()
    return None


def open_page(path: Path, *, width: int = 1200, height: int = 3000, media_wait_ms: int = 15000) -> PageCheck:
    """Load ``path`` in headless Chromium and check it (module doc)."""
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def wire() -> None:  # the browser reads commands on fd 3 and writes replies on fd 4
        read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)  # neither may be 3 or 4 clobbered
        for source, target in ((read_end, 3), (write_end, 4)):
            os.dup2(source, target)
            os.set_inheritable(target, True)  # dup2 onto itself keeps close-on-exec

    args = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--no-first-run", "--disable-background-networking", "--disable-extensions", "--mute-audio",
            f"--window-size={width},{height}", f"--user-data-dir={path.parent / '.chromium-profile'}", "about:blank"]
    # close_fds=False: Python closes every other fd AFTER preexec_fn, which would take 3 and 4 too;
    # os.pipe()'s own fds are not inheritable, so only the two dup2 copies reach the browser.
    proc = subprocess.Popen(args, preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(proc, to_browser_w, from_browser_r)
    try:
        return _check(pipe, path, width, height, media_wait_ms)
    finally:
        with contextlib.suppress(Exception):  # it may be gone already; it is killed below either way
            pipe.send("Browser.close", timeout=10)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_browser_w)
        os.close(from_browser_r)


def _check(pipe: _Pipe, path: Path, width: int, height: int, media_wait_ms: int) -> PageCheck:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
    pipe.events.clear()  # what about:blank said is not the page's
    pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout=90)
    probe = pipe.send("Runtime.evaluate", {"expression": _PROBE % media_wait_ms, "awaitPromise": True,
                                           "returnByValue": True}, session=session, timeout=90)
    found = json.loads(probe["result"]["value"])
    shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout=90)
    console = [text for event in pipe.events if (text := _console_text(event))]
    return PageCheck(console=console, screenshot=base64.b64decode(shot["data"]), **found)
