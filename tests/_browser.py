"""Helpers for the browser tests: find Chromium, start ``hhfast explore``, skip or fail.

The browser tests skip with the reason where no Chromium (or no Playwright) is found, except when
``HHFAST_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then a missing browser fails them, so CI can
never pass by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("HHFAST_REQUIRE_BROWSER", "") not in ("", "0")


def unavailable(reason: str):
    """Skip (or, with HHFAST_REQUIRE_BROWSER=1, fail) with ``reason``."""
    if REQUIRED:
        pytest.fail(f"HHFAST_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    """Debian's chromium (or ``HHFAST_CHROMIUM``), None if absent."""
    env = os.environ.get("HHFAST_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def launch_chromium(*extra_args: str):
    """Yield a headless Chromium (Playwright driving Debian's browser; no download), or skip
    or fail with the reason (:func:`unavailable`); for a module-scoped fixture."""
    exe = chromium_path()
    if exe is None:
        unavailable("no Chromium found (install Debian's 'chromium' or set HHFAST_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install 'hhfast[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *extra_args])
        yield b
        b.close()


def start_server(timeout: float = 120.0):
    """Run ``hhfast explore --port 0 --no-browser``; return (process, URL)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hhfast", "explore", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        m = re.search(r"hhfast explorer at (http://\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("hhfast explore did not print its URL:\n" + "".join(seen))
