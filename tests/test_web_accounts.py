"""The accounts section of the Selection & accounts page in a real browser (the live server and Chromium of
tests/web_server.py, through conftest.py): pick an account, draft a joint business plan, see its summary with human numbers, have
a second planner agree it, and download the one-pager."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from readable_html import unreadable
from web_server import KEY_STORAGE, shot, sign_in


def _signed_in(context: Any, url: str, key: str) -> Any:
    page = context.new_page()
    sign_in(page, url, key, "/app/selection")
    return page


@pytest.mark.browser
@pytest.mark.slow
def test_accounts_section(web_server: dict[str, Any], browser_context: Any) -> None:
    server = web_server
    page = _signed_in(browser_context, server["url"], server["keys"]["planner"])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    assert page.get_by_role("heading", name="Selection & accounts", exact=True).is_visible()
    page.locator("#acc-account option").first.wait_for(state="attached")
    option = page.locator("#acc-account option").first.inner_text()
    assert re.match(r".+ \(A\d+, .+, \d+ outlets?\)", option), option  # the name beside the id
    page.get_by_label("New outlets").fill("1")
    page.get_by_role("button", name="Draft a plan").click()
    page.locator("#acc-quarters tbody tr").first.wait_for(timeout=120_000)
    text = page.locator("#acc-section").inner_text()
    assert "version 1 draft" in page.locator("#acc-meta").inner_text()
    assert "added outlets" in page.locator("#acc-levers").inner_text()
    assert not re.search(r"\bNone\b|\bnull\b|\bNaN\b|\bundefined\b|\d[eE][+-]\d", text), text
    kpis = page.locator("#acc-kpis .kpi-value").all_inner_texts()
    assert len(kpis) == 5 and all(re.search(r"\d", k) for k in kpis[:4]) and "%" in kpis[1]
    assert page.locator("#acc-pnl tbody tr").count() >= 1 and page.locator("#acc-gaps tbody tr").count() == 4
    assert page.locator("#acc-agree-form").is_visible()
    with page.expect_download() as dl:
        page.get_by_role("button", name="One-pager (HTML)").click()
    html = Path(dl.value.path()).read_text()
    assert dl.value.suggested_filename.endswith(".html") and "Joint business plan" in html
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", html)
    assert unreadable(html) == [] and all(v.startswith("data:") for v in links)  # self-contained
    shot(page, "12-accounts")
    assert not errors, errors
    page.close()

    other = browser_context.new_page()  # four eyes: another planner, the key swapped in storage
    other.goto(f"{server['url']}/app/selection")
    other.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{server['keys']['approver']}')")
    other.reload()
    other.locator("#acc-versions tbody tr").first.wait_for(timeout=60_000)
    other.get_by_label("Account signatory").fill("Dana (buyer)")
    other.get_by_role("button", name="Agree plan").click()
    other.wait_for_function("() => document.querySelector('#acc-meta').textContent.includes('agreed by')")
    assert "Dana (buyer)" in other.locator("#acc-meta").inner_text()
    assert other.locator("#acc-versions tbody tr").first.get_attribute("data-status") == "agreed"
    assert other.locator("#acc-agree-form").is_hidden() and other.locator("#acc-error").is_hidden()
    other.close()
