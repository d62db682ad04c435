"""The planner web page's live server and browser, shared by tests/test_web.py and tests/test_web_layout.py
(import the fixtures from tests/conftest.py): uvicorn on a random loopback port serving the small simulated
world (temp DB, temp MLflow store with champions trained once per run, SALESPLAN_PLANNING_DATA = its
folder), driven by Playwright with Debian's Chromium (scripts/browser.sh installs it; never Playwright's own
downloads). The server and the browser start once per test process; each test starts with the browser's
storage emptied, so a key one test leaves there never signs in the next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "CHROMIUM",
    "KEY_STORAGE",
    "SHOTS",
    "browser_context",
    "chromium",
    "chromium_browser",
    "shot",
    "sign_in",
    "web_server",
]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / ".artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY_STORAGE = "salesplan.apiKey"  # localStorage: the page keeps the key across tabs until sign-out


def chromium() -> str:
    """Install Debian's Chromium if missing (scripts/browser.sh); skip, saying why, only if that fails."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    res = subprocess.run(
        ["bash", str(ROOT / "scripts" / "browser.sh")], capture_output=True, text=True, timeout=900
    )
    if res.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        reason = f"chromium could not be installed: {(res.stderr or res.stdout).strip()[-500:]}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """uvicorn on a random loopback port, serving the small simulated world; yields url + keys per role."""
    from serving_world import ROLES, build_world, world_dir

    from salesplan.serving.db.api_keys import ApiKeyRepository
    from salesplan.serving.db.engine import make_engine, migrate, session_factory

    chromium()
    tmp = tmp_path_factory.mktemp("web")
    world = build_world(world_dir(tmp_path_factory))  # shared with the API tests of this process
    db_url = f"sqlite:///{tmp / 'app.db'}"
    migrate(db_url)  # salesplan db upgrade
    engine = make_engine(db_url)
    keys: dict[str, str] = {}
    with session_factory(engine)() as session:
        repo = ApiKeyRepository(session)
        for role in ROLES:
            keys[role], _ = repo.create(f"web-{role}", role)  # type: ignore[arg-type]
        keys["approver"], _ = repo.create("web-approver", "planner")  # a second planner: four eyes
        session.commit()
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "SALESPLAN_DATABASE_URL": db_url,
        "SALESPLAN_PLANNING_DATA": str(world.plan),
        "SALESPLAN_MODEL_CACHE_DIR": str(tmp / "cache"),
        "SALESPLAN_REGISTRY_TIMEOUT_S": "120",
        "MLFLOW_TRACKING_URI": world.tracking_uri,
        "SALESPLAN_ARTIFACT_ROOT": str(world.artifact_root),
    }
    log = (tmp / "server.log").open("w")
    cmd = [sys.executable, "-m", "uvicorn", "salesplan.serving.app:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 300, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{url}/ready", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        if ready is None or ready.status_code != 200:
            log.flush()
            tail = (tmp / "server.log").read_text()[-3000:]
            pytest.fail(f"server not ready: {ready.text if ready is not None else 'no answer'}\n{tail}")
        yield {"url": url, "keys": keys}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def chromium_browser(web_server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium for the run, as a persistent context (its downloads work with Debian's Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},
        )
        ctx.set_default_timeout(60_000)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def browser_context(chromium_browser: Any, web_server: dict[str, Any]) -> Iterator[Any]:
    """The browser with its storage emptied, so a key an earlier test left there never signs in this one;
    the pages a test leaves open are closed after it."""
    blank = chromium_browser.new_page()
    blank.goto(f"{web_server['url']}/app/static/app.css")
    blank.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    blank.close()
    try:
        yield chromium_browser
    finally:
        for page in chromium_browser.pages:
            page.close()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot for reviewers in tests/.artifacts/screenshots."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, url: str, key: str, path: str = "/app/forecast") -> None:
    page.goto(f"{url}{path}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who-name").wait_for(state="visible")
