"""The planner page's layout and behaviours at a laptop (1440x900) and a phone (390x844) size, in the
browser of tests/web_server.py: no tab wider than the window, charts tall enough on a phone with the
legend under them, the sign-in wording and a key kept across tabs, an error replacing the old result,
a past quarter saying why it is empty, deals with names, totals and pipeline-vs-target coverage, and the
tabs reachable and usable from the keyboard. One page load per tab and size; screenshots of each go to
tests/.artifacts/screenshots (``layout-<size>-<tab>.png``) for a reviewer to compare."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from readable_html import unreadable
from web_server import KEY_STORAGE, shot, sign_in

TABS = ("forecast", "targets", "budget", "deals", "process", "tracking", "selection")
LAPTOP, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
PLOT_HEIGHT = "id => { const d = document.querySelector(`#${id} .nsewdrag`); return d ? d.getBoundingClientRect().height : 0; }"
LEGEND_BELOW = (
    "id => { const plot = document.querySelector(`#${id} .nsewdrag`).getBoundingClientRect();"
    " const legend = document.querySelector(`#${id} .legend`).getBoundingClientRect();"
    " return legend.top >= plot.bottom - 1; }"
)
# what each tab draws once it has loaded (then the layout is the one a user sees)
READY = {
    "forecast": "#fc-chart .main-svg",
    "targets": "#t-implied:has-text('hit with probability')",
    "budget": "#b-form",
    "deals": "#open-table tbody tr",
    "process": "#pf-table tbody tr",
    "tracking": "#tr-form, #tr-error:not([hidden])",
    "selection": "#sel-picks tbody tr",
}


def _approved_bookings_target(url: str, keys: dict[str, str]) -> tuple[str, float]:
    """An approved bookings proposal by region for the pipeline's default quarter (2027Q1): what the Deals
    page's coverage divides by. Returns its id and the company target."""
    made = httpx.post(
        f"{url}/api/v1/targets/proposals",
        json={"quarter": "2027Q1", "by": ["region"], "domain": "bookings"},
        headers={"X-API-Key": keys["planner"]},
        timeout=120,
    )
    assert made.status_code == 201, made.text
    ok = httpx.post(
        f"{url}/api/v1/targets/proposals/{made.json()['id']}:approve",
        json={"version": 1},
        headers={"X-API-Key": keys["approver"]},
        timeout=60,
    )
    assert ok.status_code == 200, ok.text
    return made.json()["id"], float(made.json()["company"]["target"])


def _tab(page: Any, url: str, tab: str, size: str) -> None:
    page.goto(f"{url}/app/{tab}")
    page.locator(READY[tab]).first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(OVERFLOW), f"{tab} at {size}: the page scrolls sideways"
    shot(page, f"layout-{size}-{tab}")


@pytest.mark.browser
@pytest.mark.slow
def test_laptop_layout_keyboard_and_deals(web_server: dict[str, Any], browser_context: Any) -> None:
    url, keys = web_server["url"], web_server["keys"]
    pid, target = _approved_bookings_target(url, keys)
    page = browser_context.new_page()
    page.set_viewport_size(LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    # keyboard: the key field has the focus, Enter signs in, Tab reaches the tabs and Enter opens one
    page.goto(f"{url}/app/forecast")
    page.keyboard.type(keys["planner"])
    page.keyboard.press("Enter")
    page.locator("#who-name").wait_for(state="visible")
    page.locator("#fc-chart .main-svg").first.wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Forecast"  # on from the page's own tab
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Deals":
            break
    assert page.evaluate("document.activeElement.closest('#nav') !== null"), "the tabs are not reachable"
    page.keyboard.press("Enter")
    page.wait_for_url("**/app/deals")

    # the key is kept for the browser, so a new tab opens signed in; signing out there signs out here too
    other = browser_context.new_page()
    other.goto(f"{url}/app/targets")
    other.locator("#who-name").wait_for(state="visible")
    assert page.evaluate(f"localStorage.getItem('{KEY_STORAGE}')") == keys["planner"]
    # back to the first tab, as the user would: Chromium draws a background tab's frames rarely, and each
    # full-page screenshot below waited 1 to 3 s there for one (about 15 s of this test)
    page.bring_to_front()

    # deals: names beside ids, totals, and pipeline against the approved target
    page.locator("#open-table tbody tr .badge").first.wait_for()
    reps = page.locator("#open-table tbody tr td:nth-child(2)")
    names = reps.evaluate_all(
        "cells => cells.map(c => [c.firstChild.textContent, c.querySelector('small')?.textContent])"
    )
    assert all(name.strip() and rep and rep.strip() != name.strip() for name, rep in names), names
    assert page.locator("#od-amount-total").inner_text().startswith("$")
    page.get_by_label("By", exact=True).select_option("region")
    page.get_by_role("button", name="Show pipeline").click()
    page.locator("#pipe-table tbody th").filter(has_text="North").wait_for()
    total_row = page.locator("#pipe-table tfoot tr.total")
    coverage = total_row.locator("td[data-coverage]")
    pipeline = float(
        page.evaluate(
            "document.querySelectorAll('#pipe-table tfoot td')[1].textContent.replace(/[^0-9.]/g, '')"
        )
    )
    assert float(coverage.get_attribute("data-coverage") or "nan") == pytest.approx(
        pipeline / target, rel=0.01
    )
    assert coverage.inner_text().endswith("×")
    assert (
        page.locator("#pipe-table tbody td[data-coverage]:not([data-coverage=''])").count() >= 2
    )  # per region
    shot(page, "layout-laptop-deals-coverage")

    # an error replaces the old result (no stale chart or table), in words
    page.get_by_label("Quarter").fill("2031Q1")
    page.get_by_role("button", name="Show pipeline").click()
    problem = page.locator("#pipe-error")
    problem.wait_for(state="visible")
    assert page.locator("#pipe-table").is_hidden() and page.locator("#pipe-chart").is_hidden()
    assert "{" not in problem.inner_text() and "2031Q1" in problem.inner_text()
    # a field in the wrong form: one sentence saying what to do, not the validation library's wording
    detail = page.evaluate(
        "() => SP.get('/api/v1/pipeline', { quarter: '2027-Q1' }).catch((e) => {"
        " SP.showProblem(document.getElementById('pipe-error'), e); return e.detail; })"
    )
    assert detail == "quarter: use the form 2027Q1"
    assert "Please check the input" in problem.inner_text() and "pattern" not in problem.inner_text()

    # a past quarter: no empty chart, a sentence saying why
    page.get_by_label("Quarter").fill("2026Q1")
    page.get_by_role("button", name="Show pipeline").click()
    page.locator("#pipe-meta").filter(has_text="is over").wait_for()
    assert page.locator("#pipe-chart").is_hidden() and page.locator("#pipe-error").is_hidden()

    for tab in TABS:
        _tab(page, url, tab, "laptop")

    # the proposal page reads well: names not level keys, money, months by name, no None/nan/1e-05/dicts
    page.goto(f"{url}/app/targets#proposal={pid}")
    page.locator(f"#prop-section[data-proposal-id='{pid}']").wait_for()
    page.locator("#p-table tbody tr").first.wait_for()
    section = page.inner_html("#prop-section")
    assert unreadable(section) == [], unreadable(section)[:5]
    heads = page.locator("#p-table thead th").all_inner_texts()
    assert "Jan 2027" in heads and "Mar 2027" in heads, heads
    assert page.locator("#p-company").inner_text().startswith("$")
    assert "region=" not in page.inner_text("#p-table")
    other.get_by_role("button", name="Sign out").click()
    page.locator("#signin-box").wait_for(state="visible")
    assert not errors, errors
    other.close()
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_phone_layout_and_sign_in(web_server: dict[str, Any], browser_context: Any) -> None:
    url, keys = web_server["url"], web_server["keys"]
    page = browser_context.new_page()
    page.set_viewport_size(PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    # a wrong key: what to do, in words (not the API's header syntax)
    page.goto(f"{url}/app/forecast")
    assert page.evaluate(OVERFLOW)
    page.get_by_label("API key").fill("sp_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    box = page.locator("#signin-error")
    box.filter(has_text="That API key was not accepted").wait_for()
    assert "Bearer" not in box.inner_text() and "Authorization" not in box.inner_text()
    shot(page, "layout-phone-sign-in-error")
    sign_in(page, url, keys["planner"])

    for tab in TABS:
        _tab(page, url, tab, "phone")
        if tab == "forecast":  # the legend under the chart, the plot itself keeps its height
            page.wait_for_function("() => (document.getElementById('fc-chart').data || []).length > 0")
            assert page.evaluate(PLOT_HEIGHT, "fc-chart") >= 200
            assert page.evaluate(LEGEND_BELOW, "fc-chart")
            # years of history do not squeeze the forecast into the right edge: the view opens on its end
            start = page.evaluate("document.getElementById('fc-chart').layout.xaxis.range[0]")
            first = page.evaluate(
                "document.getElementById('fc-chart').data.find(t => /actual/.test(t.name)).x[0]"
            )
            assert str(start) > str(first)
            # the quarter in progress is drawn: actuals so far plus the forecast of the rest
            page.get_by_label("Period").select_option("Q")
            page.get_by_role("button", name="Show forecast").click()
            page.locator("#fc-table tbody td").filter(has_text="in progress").first.wait_for()
        if tab == "budget":  # an answer's tables and caps fit too (the caps' fieldset once widened it)
            page.get_by_label("Total budget over the plan").fill("400000")
            page.get_by_role("button", name="Optimise").click()
            page.locator("#b-caps-rows input").first.wait_for()
            assert page.evaluate(OVERFLOW), "budget answer at phone: the page scrolls sideways"
        if tab == "deals":
            page.wait_for_function("() => (document.getElementById('pipe-chart').data || []).length > 0")
            assert page.evaluate(PLOT_HEIGHT, "pipe-chart") >= 200
            assert page.evaluate(LEGEND_BELOW, "pipe-chart")
    assert not errors, errors
    page.close()
