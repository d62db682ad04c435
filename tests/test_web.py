"""The planner web page in a real browser: a live uvicorn server on loopback (temp DB, temp MLflow store
with champions trained on a small simulated world, SALESPLAN_PLANNING_DATA = its folder) driven by
Playwright with Debian's Chromium (scripts/browser.sh installs it; never Playwright's own downloads).
Screenshots of every page go to tests/.artifacts/screenshots for reviewers. The server and browser
fixtures live in tests/web_server.py (shared with tests/test_web_layout.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from web_server import KEY_STORAGE, shot, sign_in

from salesplan.serving.app import create_app
from salesplan.serving.settings import ServingSettings

# ---------- cheap checks of the router (no browser, no models) ----------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from serving_world import upgraded

    settings = ServingSettings(
        database_url=upgraded(f"sqlite:///{tmp_path / 'app.db'}"),
        model_cache_dir=tmp_path / "cache",
        load_models=False,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_pages_and_static_files_are_served(client: TestClient) -> None:
    assert client.get("/app", follow_redirects=False).headers["location"] == "/app/forecast"
    for page in ("forecast", "targets", "budget", "deals", "process", "tracking", "selection"):
        res = client.get(f"/app/{page}")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        assert res.headers["x-frame-options"] == "DENY"
        html = res.text
        # every form control has a label (for=...) or an aria-label
        ids = set(re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html))
        labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
        assert ids <= labelled, f"{page}: controls without a label: {sorted(ids - labelled)}"
    js = client.get("/app/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 1_000_000 and b"plotly" in js.content[:5000].lower()
    assert client.get("/app/static/app.js").status_code == 200
    for bad in ("..%2Fapp.py", ".hidden.js", "nothing.js", "__init__.py"):
        res = client.get(f"/app/static/{bad}")
        assert res.status_code == 404 and res.headers["content-type"].startswith("application/problem+json")


# ---------- the browser run (server and browser: tests/web_server.py, through conftest.py) ----------


@pytest.fixture
def server(web_server: dict[str, Any]) -> dict[str, Any]:
    return web_server


_shot = shot
_sign_in = sign_in


def _num(text: str) -> float:
    return float(re.sub(r"[^\d.\-]", "", text))


@pytest.mark.browser
@pytest.mark.slow
def test_planner_uses_every_page(server: dict[str, Any], browser_context: Any) -> None:
    url, keys = server["url"], server["keys"]
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )

    # sign in: the key lives in localStorage (every tab), never in the URL; navigation follows the role
    page.goto(f"{url}/app/forecast")
    _shot(page, "00-sign-in")
    _sign_in(page, url, keys["planner"])
    assert "planner" in page.locator("#who-name").inner_text()
    assert page.evaluate(f"localStorage.getItem('{KEY_STORAGE}')") == keys["planner"]
    assert keys["planner"] not in page.url
    nav = page.locator("#nav li:not([hidden]) a").all_inner_texts()
    assert nav[:5] == ["Forecast", "Targets", "Budget", "Deals", "Process"] and "Tracking" in nav

    # forecast: actuals + P10–P90 fan with the model version
    page.locator("#fc-model").filter(has_text="version").wait_for()
    page.wait_for_function("() => (document.getElementById('fc-chart').data || []).length > 0")
    n_traces = page.evaluate("document.getElementById('fc-chart').data.length")
    names = page.evaluate("document.getElementById('fc-chart').data.map(t => t.name || '')")
    assert n_traces >= 4 and any("P10–P90" in n for n in names) and any("actual" in n for n in names)
    page.get_by_label("Period").select_option("Q")
    page.get_by_role("button", name="Show forecast").click()
    page.locator("#fc-chart .main-svg").first.wait_for()
    _shot(page, "01-forecast")

    # targets: the slider shows the implied company target live
    page.get_by_role("link", name="Targets").click()
    implied = page.locator("#t-implied")
    implied.filter(has_text="hit with probability").wait_for()
    page.get_by_label("Allocate over").select_option("region,store")
    implied.filter(has_text="hit with probability").wait_for()

    def slide(p: float) -> float:
        page.locator("#t-prob").evaluate(
            "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(p)
        )
        text = implied.inner_text()
        assert f"{round(p * 100)} %" in text
        return _num(text.split(":")[1].split("—")[0])

    at_90, at_60 = slide(0.9), slide(0.6)
    assert at_90 < at_60, "a surer target must be lower"

    # the track-record panel says how to get one when none is stored
    page.locator("#tr-note").filter(has_text="plan backtest").wait_for()
    # create a proposal at 60 % with 10 % over-assignment (the default is none), applied at the leaves
    assert page.get_by_label("Over-assignment % (leaves only)").input_value() == "0"
    page.get_by_label("Over-assignment % (leaves only)").fill("10")
    page.get_by_role("button", name="Create proposal").click()
    page.locator("#p-status").filter(has_text="draft").wait_for()
    assert page.locator("#p-version").inner_text() == "1"
    assert "60 %" in page.locator("#prop-kpis").inner_text()
    company = _num(page.locator("#p-company").inner_text())
    assert company == pytest.approx(at_60, rel=0.02)

    # override one store: its siblings re-balance, the region total is kept
    store = page.locator("#p-table tbody tr[data-level='store']").first
    unit = store.get_attribute("data-unit")
    parent_row = _parent_row(page, unit)
    parent_before = float(parent_row.locator("td[data-target]").get_attribute("data-target"))
    before = float(store.locator("td[data-target]").get_attribute("data-target"))
    new_value = round(before * 1.15, 2)
    page.get_by_label(f"Target for {unit}").fill(str(new_value))
    page.get_by_role("button", name=re.compile(r"Apply overrides \(1\)")).click()
    page.locator("#p-version").filter(has_text="2").wait_for()
    store = page.locator(f"#p-table tbody tr[data-unit='{unit}']")
    assert "overridden" in (store.get_attribute("class") or "")
    assert float(store.locator("td[data-target]").get_attribute("data-target")) == pytest.approx(new_value)
    parent_row = _parent_row(page, unit)
    assert float(parent_row.locator("td[data-target]").get_attribute("data-target")) == pytest.approx(
        parent_before, abs=0.01
    )
    sums = page.locator("#p-table td[data-children-sum]:not([data-children-sum=''])")
    assert sums.count() > 0
    rates = set()
    for i in range(sums.count()):  # children sum to parent × (1 + their level's over-assignment)
        cell = sums.nth(i)
        row_target = float(cell.locator("xpath=../td[@data-target]").get_attribute("data-target"))
        rate = float(cell.get_attribute("data-children-rate"))
        rates.add(round(rate, 6))
        assert float(cell.get_attribute("data-children-sum")) == pytest.approx(row_target * rate, abs=0.05)
    assert rates <= {1.0, 1.1} and 1.1 in rates  # 10 % over-assignment, at least where the leaves are
    assert page.locator("#p-table td.bad").count() == 0
    # the weekly targets (weekly data): readable week labels, and the overridden store's weeks add up to
    # its new quarter target (recomputed from the current months)
    page.locator("#pw-box > summary").click()
    week_heads = page.locator("#pw-table thead th").all_inner_texts()[2:]
    assert len(week_heads) >= 13 and all(re.fullmatch(r"\d{1,2} \w{3}\.?", h) for h in week_heads), week_heads
    assert "4 Jan" in week_heads, week_heads
    cells = page.locator(f"#pw-table tbody tr[data-unit='{unit}'] td[data-week]")
    values = [float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.value)")]
    assert len(values) == len(week_heads) and min(values) >= 0
    assert sum(values) == pytest.approx(new_value, abs=0.05)
    texts = cells.all_inner_texts()  # whole numbers with thousands separators, never raw floats
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", t) for t in texts), texts
    # on a phone (the page loaded at that size, charts drawn for it) the weeks scroll inside their box
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator(f"#pw-table tbody tr[data-unit='{unit}']").wait_for(state="attached")
    page.locator("#pw-box > summary").click()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate(
        "(b => b.scrollWidth > b.clientWidth)(document.querySelector('#pw-box .table-wrap'))"
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    _shot(page, "02-targets-overridden")

    # a CRM-role key that tries to approve sees the problem details on the page
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['crm']}')")
    page.get_by_role("button", name="Approve").click()
    problem = page.locator("#prop-error")
    problem.filter(has_text="Not allowed for your role").wait_for()
    assert "role 'crm' may not" in problem.inner_text()
    assert page.locator("#p-status").inner_text() == "draft"
    _shot(page, "03-targets-crm-forbidden")

    # four eyes: the planner who made and edited it may not approve it; the page says so
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['planner']}')")
    page.get_by_role("button", name="Approve").click()
    problem.filter(has_text="may not approve it").wait_for()
    assert "four eyes" in problem.inner_text() and page.locator("#p-status").inner_text() == "draft"

    # another planner approves, with a note; the approval history names each step and who took it
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['approver']}')")
    page.get_by_label("Approval note").fill("checked against the regional plans")
    page.get_by_role("button", name="Approve").click()
    page.locator("#p-status").filter(has_text="approved").wait_for()
    assert page.locator("#prop-error").is_hidden()
    assert page.locator(".target-input").count() == 0  # approved proposals are read-only
    page.locator("#l-table tbody tr").first.filter(has_text="approved").wait_for()
    assert "Gini" in page.locator("#p-fairness-list").inner_text()
    page.locator("#h-table tbody tr[data-action='proposal.approve']").wait_for()
    steps = [(r.get_attribute("data-action"), r.locator("td").nth(2).inner_text())
             for r in page.locator("#h-table tbody tr").all()]  # fmt: skip
    assert steps == [
        ("proposal.create", "web-planner"),
        ("proposal.replace_rows", "web-planner"),
        ("proposal.approve", "web-approver"),
    ], steps
    assert "checked against the regional plans" in page.locator("#h-table").inner_text()
    first_id = page.locator("#prop-section").get_attribute("data-proposal-id")
    _shot(page, "04-targets-approved")
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['planner']}')")

    # a second, surer proposal; list both and compare them unit by unit
    slide(0.8)
    page.get_by_role("button", name="Create proposal").click()
    page.locator("#p-status").filter(has_text="draft").wait_for()
    page.locator("#l-table tbody tr").nth(1).wait_for()
    for i in range(2):
        page.locator("#l-table tbody tr").nth(i).get_by_role("checkbox").check()
    page.get_by_role("button", name="Compare selected (2)").click()
    page.locator("#c-table tbody tr").first.wait_for()
    total = page.locator("#c-table tbody tr").filter(has_text="total").first
    cells = total.locator("td.num").all_inner_texts()
    assert _num(cells[0]) != _num(cells[1]), "a 80 % target differs from a 60 % one"
    _shot(page, "04b-targets-compare")

    # approving the second supersedes the first (one approved proposal per quarter and levels), linked
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['approver']}')")
    page.get_by_role("button", name="Approve").click()
    page.locator("#p-status").filter(has_text="approved").wait_for()
    page.locator("#h-table tbody tr[data-action='proposal.approve']").filter(has_text="supersedes").wait_for()
    page.locator("#l-table tbody tr").filter(has_text="superseded").first.wait_for()
    second_id = page.locator("#prop-section").get_attribute("data-proposal-id")
    page.locator("#h-table tbody tr[data-action='proposal.approve'] a").first.click()  # to the first
    page.locator(f"#prop-section[data-proposal-id='{first_id}']").wait_for()
    page.locator("#p-status").filter(has_text="superseded").wait_for()
    assert page.locator("#p-superseded-by").inner_text() == second_id[:8]
    _shot(page, "04c-targets-superseded")
    page.evaluate(f"localStorage.setItem('{KEY_STORAGE}', '{keys['planner']}')")

    # budget: optimal split vs last period with response curves
    page.get_by_role("link", name="Budget").click()
    page.get_by_label("Total budget over the plan").fill("400000")
    page.get_by_role("button", name="Optimise").click()
    page.locator("#b-table").wait_for(state="visible")
    assert page.locator("#b-table tbody tr").count() > 0
    assert page.locator("#b-caps-rows input").count() > 0
    _shot(page, "05-budget")

    # deals: scored open deals with reasons, weighted pipeline
    page.get_by_role("link", name="Deals").click()
    page.locator("#open-table tbody tr .badge").first.wait_for()
    page.locator("#pipe-table").wait_for(state="visible")
    assert page.locator("#open-table tbody tr").count() > 0
    _shot(page, "06-deals")

    # tablet width: no sideways scrolling of the page itself
    page.set_viewport_size({"width": 820, "height": 1180})
    page.get_by_role("link", name="Targets").click()
    page.locator("#l-table tbody tr").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    _shot(page, "07-targets-tablet")
    page.set_viewport_size({"width": 1366, "height": 900})
    assert not errors, errors
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_price_promotion_what_if(server: dict[str, Any], browser_context: Any) -> None:
    page = browser_context.new_page()
    _sign_in(page, server["url"], server["keys"]["analyst"])
    # the options arrive with the page's first answer (its form handlers are attached by then): reading them
    # earlier under load picked none, and the click then submitted the bare form instead of the what-if
    page.locator("#wi-ids option").first.wait_for(state="attached")
    ids = page.locator("#wi-ids option").evaluate_all("options => options.map(o => o.value)")
    page.get_by_label("Products in stores").select_option(ids)
    page.get_by_label("Price change %").fill("-15")
    page.get_by_label("Promotion", exact=True).select_option("1")
    page.get_by_role("button", name="Run what-if").click()
    summary = page.locator("#wi-summary")
    page.locator("#wi-summary .kpi, #wi-error:not([hidden])").first.wait_for()
    assert page.locator("#wi-error").is_hidden(), page.locator("#wi-error").inner_text()
    baseline = _num(summary.locator(".kpi-value").nth(0).inner_text())
    scenario = _num(summary.locator(".kpi-value").nth(1).inner_text())
    assert scenario > baseline > 0, "a price cut on promotion must sell more"
    page.wait_for_function("() => (document.getElementById('wi-chart').data || []).length === 3")
    _shot(page, "01b-forecast-what-if")
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_crm_key_sees_only_its_pages(server: dict[str, Any], browser_context: Any) -> None:
    url, keys = server["url"], server["keys"]
    page = browser_context.new_page()
    page.goto(f"{url}/app/targets")  # keyboard only: the key field has the focus, Enter signs in
    page.keyboard.type(keys["crm"])
    page.keyboard.press("Enter")
    page.locator("#who-name").wait_for(state="visible")
    assert page.locator("#nav li:not([hidden]) a").all_inner_texts() == ["Deals"]
    assert "may not use this page" in page.locator("#forbidden").inner_text()
    assert page.locator("#page-body").is_hidden()
    _shot(page, "08-crm-targets-forbidden")
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate(f"localStorage.getItem('{KEY_STORAGE}')") is None
    page.get_by_label("API key").fill("sp_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    page.locator("#signin-error").filter(has_text="That API key was not accepted").wait_for()
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_process_tab(server: dict[str, Any], browser_context: Any) -> None:
    """The Process tab: full funnel through Operate, time by role × stage × location group, inefficiencies,
    cadence, scorecards with a per-person card and an export, and the capacity plan of a target."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    _sign_in(page, server["url"], server["keys"]["analyst"], "/app/process")
    assert "Process" in page.locator("#nav li:not([hidden]) a").all_inner_texts()
    page.locator("#pf-table tbody tr").nth(7).wait_for()
    steps = page.locator("#pf-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.step)")
    assert steps == ["Meet", "Pitch", "Sign", "Deliver", "Operate", "First order", "Active 30d", "Active 90d"]
    page.wait_for_function("() => (document.getElementById('pf-chart').data || []).length === 2")
    page.locator("#pt-table tbody tr").first.wait_for()
    heads = page.locator("#pt-table thead th").all_inner_texts()
    assert heads[:3] == ["role", "stage", "location group"]
    assert page.locator("#pt-table tbody tr").filter(has_text="(internal)").count() > 0
    page.get_by_label("Split by").select_option("role,channel")
    page.get_by_role("button", name="Show time").click()
    page.locator("#pt-table thead th").filter(has_text="channel").wait_for()
    page.locator("#pi-list li").first.wait_for()
    page.locator("#pc-list li").nth(2).wait_for()
    assert "within" in page.locator("#pc-list li").first.inner_text()
    assert "odds of moving on" in page.locator("#pc-effect").inner_text()
    page.locator("#ps-table tbody tr").first.wait_for()
    assert page.locator("#ps-role option").count() >= 4  # all + AE, CSM, manager
    first = page.locator("#ps-table tbody tr").first
    rep = first.get_attribute("data-rep")
    first.get_by_role("button", name=f"Scorecard of {rep}").click()
    page.locator("#ps-card").wait_for(state="visible")
    assert rep in page.locator("#ps-card-title").inner_text()
    assert page.locator("#ps-card-table tbody tr").count() == 14
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export CSV").click()
    assert dl.value.suggested_filename == "scorecards.csv"
    _shot(page, "09-process")
    page.get_by_label("Won-value target").fill("800000")
    page.get_by_label("Quarter").fill("2027Q1")
    page.get_by_role("button", name="Plan").click()
    page.locator("#pk-hires .kpi-value").wait_for()
    assert page.locator("#pk-table tbody tr").count() == 4
    assert page.locator("#pk-binding .kpi-value").inner_text() in ("value", "time")
    _shot(page, "10-process-capacity")
    assert page.locator("#pf-error").is_hidden() and page.locator("#ps-error").is_hidden()
    assert not errors, errors
    page.close()


def _parent_row(page: Any, unit: str) -> Any:
    parent = page.locator(f"#p-table tbody tr[data-unit='{unit}']").get_attribute("data-parent")
    assert parent, f"{unit} has no parent row"
    return page.locator(f"#p-table tbody tr[data-unit='{parent}']")


@pytest.mark.browser
@pytest.mark.slow
def test_tracking_tab(server: dict[str, Any], browser_context: Any, tmp_path: Path) -> None:
    """Issue #21: a half-finished quarter loaded through the API; the Tracking tab draws the landing fan,
    an alert is acknowledged, and a CSV and an .xlsx are downloaded and read back."""
    import io

    import pandas as pd
    from openpyxl import load_workbook

    from salesplan.simulator import SimConfig, simulate
    from salesplan.simulator.in_progress import quarter_in_progress

    url, keys = server["url"], server["keys"]
    hp = {"X-API-Key": keys["planner"]}
    made = httpx.post(f"{url}/api/v1/targets/proposals", json={"quarter": "2027Q1", "by": ["region"]}, headers=hp,
                      timeout=300)  # fmt: skip
    assert made.status_code == 201, made.text
    ok = httpx.post(f"{url}/api/v1/targets/proposals/{made.json()['id']}:approve", json={"version": 1},
                    headers={"X-API-Key": keys["approver"]}, timeout=60)  # fmt: skip
    assert ok.status_code == 200, ok.text
    sim = simulate(SimConfig(seed=7, n_products=4, n_stores=3, n_opportunities=600, n_reps=8))
    prog = quarter_in_progress(sim, "2027Q1", "2027-02-14")
    for kind, frame in (("budget", prog.budgets), ("spend", prog.spend), ("sellout", prog.sellout)):
        rows = frame.assign(
            **{
                str(c): frame[c].dt.strftime("%Y-%m-%d")
                for c in frame
                if str(frame[c].dtype).startswith("datetime")
            }
        )
        body = {
            "kind": kind,
            "rows": [{k: v for k, v in r.items() if pd.notna(v)} for r in rows.to_dict("records")],
        }
        res = httpx.post(f"{url}/api/v1/actuals", json=body, headers=hp, timeout=120)
        assert res.status_code == 200, res.text

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    _sign_in(page, url, keys["planner"], "/app/tracking?quarter=2027Q1")
    assert "Tracking" in page.locator("#nav li:not([hidden]) a").all_inner_texts()
    page.locator("#tr-table tbody tr").first.wait_for()
    page.wait_for_function("() => (document.getElementById('tr-chart').data || []).length === 5")
    fan = page.evaluate("document.getElementById('tr-chart').data[1].y.filter(v => v !== null).length")
    assert fan >= 2  # the landing band is drawn over the remaining weeks
    assert page.locator("#sp-table tbody tr").count() == 10
    page.locator("#al-list li[data-status='open']").first.wait_for()
    alert = page.locator("#al-list li[data-status='open']").first
    alert_id = alert.get_attribute("data-alert")
    assert "Suggested:" in alert.inner_text()
    alert.get_by_role("button", name="Acknowledge").click()
    page.locator(f"#al-list li[data-alert='{alert_id}'][data-status='acknowledged']").wait_for()
    _shot(page, "11-tracking")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export units CSV").click()
    csv_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(csv_path)
    units = pd.read_csv(csv_path)
    assert len(units) == page.locator("#tr-table tbody tr").count() and "landing_p50" in units
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export alerts Excel").click()
    assert dl.value.suggested_filename.endswith(".xlsx")
    wb = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    sheet = wb["alerts"]
    header = [c.value for c in sheet[1]]
    statuses = {
        sheet.cell(row=i, column=header.index("status") + 1).value for i in range(2, sheet.max_row + 1)
    }
    assert "acknowledged" in statuses
    assert page.locator("#tr-error").is_hidden() and page.locator("#al-error").is_hidden()
    # the proposal's own table exports from the Targets page too
    pid = made.json()["id"]
    page.goto(f"{url}/app/targets#proposal={pid}")
    page.locator("#prop-section").wait_for(state="visible")
    page.wait_for_function(f"() => document.getElementById('prop-section').dataset.proposalId === '{pid}'")
    with page.expect_download() as dl:
        page.locator("#prop-actions").get_by_role("button", name="Export Excel").click()
    book = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    assert dl.value.suggested_filename.endswith(".xlsx") and book["targets"].max_row >= 4
    assert not errors, errors


@pytest.mark.browser
@pytest.mark.slow
def test_selection_tab(server: dict[str, Any], browser_context: Any) -> None:
    """The Selection tab: the featured portfolio with a reason per pick (re-picked with one slot per
    market), the ranking and the left-out candidates, then a promotion plan under a budget."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    _sign_in(page, server["url"], server["keys"]["planner"], "/app/selection")
    assert "Selection & accounts" in page.locator("#nav li:not([hidden]) a").all_inner_texts()
    page.locator("#sel-picks tbody tr").first.wait_for()
    assert "store/product" in page.locator("#sel-meta").inner_text()
    assert all(
        "by expected margin" in t for t in page.locator("#sel-picks tbody td.reason").all_inner_texts()
    )
    page.get_by_label("Slots per market").fill("1")
    page.get_by_role("button", name="Rank and pick").click()
    page.wait_for_function(
        "() => { const m = [...document.querySelectorAll('#sel-picks tbody th')].map(t => t.textContent);"
        " return m.length > 0 && new Set(m).size === m.length; }"
    )
    assert page.locator("#sel-rank tbody tr").count() > 0
    page.get_by_label("Budget", exact=True).fill("100")
    page.get_by_role("button", name="Plan promotions").click()
    page.locator("#promo-table tbody tr").first.wait_for(timeout=180_000)
    assert "promotions chosen" in page.locator("#promo-meta").inner_text()
    assert (
        page.locator("#promo-table tbody td.reason").count() == page.locator("#promo-table tbody tr").count()
    )
    _shot(page, "11-selection")
    assert page.locator("#sel-error").is_hidden() and page.locator("#promo-error").is_hidden()
    assert not errors, errors
    page.close()
