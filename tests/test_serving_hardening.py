"""Regression tests of the hardening findings (issue #20) that need no trained model: every one failed
before the fix. The app runs without models or planning data (fast); proposals are seeded through the
repository. Findings that need the models and planning data are in tests/test_serving_api.py, the
database faults in tests/test_serving_faults.py, model loading in tests/test_model_cache.py."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from serving_world import upgraded
from sqlalchemy import select, text, update

from salesplan.errors import ConfigError, ConflictError, ForbiddenError
from salesplan.planning.proposals import ProposalRequest
from salesplan.serving.app import create_app
from salesplan.serving.db.engine import make_engine, session_factory, transaction
from salesplan.serving.db.proposal_parameters import ProposalParameters
from salesplan.serving.db.records import check_quarter
from salesplan.serving.db.repository import ApiKeyRepository, NewProposal, ProposalRepository, ProposalRowData
from salesplan.serving.db.tables import ApiKey
from salesplan.serving.keys import AuthThrottle, KeyCache
from salesplan.serving.settings import ServingSettings


def _settings(tmp: Path, **kw: Any) -> ServingSettings:
    values: dict[str, Any] = {
        "database_url": upgraded(f"sqlite:///{tmp / 'app.db'}"),
        "model_cache_dir": tmp / "cache",
        "load_models": False,
        "max_body_bytes": 2_000,
        **kw,
    }
    return ServingSettings(**values)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """A fresh service, for tests that change what is stored."""
    with TestClient(create_app(_settings(tmp_path))) as c:
        yield c


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One service for the tests that only send requests (most of them: starting one costs ~0.5 s)."""
    with TestClient(create_app(_settings(tmp_path_factory.mktemp("shared")))) as c:
        yield c


def _key(client: TestClient, role: str, name: str | None = None) -> str:
    """The client's key named ``name`` (default ``test-<role>``), made on first use."""
    services = client.app.state.services  # type: ignore[attr-defined]
    made: dict[str, str] = services.__dict__.setdefault("test_keys", {})
    name = name or f"test-{role}"
    if name not in made:
        with services.session(write=True) as session:
            made[name], _ = ApiKeyRepository(session).create(name, role)  # type: ignore[arg-type]
    return made[name]


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def _seed(client: TestClient, author: str, quarter: str = "2027Q1", by: tuple[str, ...] = ("region",)) -> str:
    """A stored draft (total → North, South; leaves add up to 110 % of the total) authored by ``author``."""
    rows = [
        ProposalRowData(level="total", unit_id="total", target=Decimal("1000.00"), p_hit=0.6),
        ProposalRowData(level="region", unit_id="North", parent_id="total", target=550),  # type: ignore[arg-type]
        ProposalRowData(level="region", unit_id="South", parent_id="total", target=550),  # type: ignore[arg-type]
    ]
    request = ProposalRequest(quarter=quarter, by=by, over_assignment=0.1)
    header = NewProposal(
        quarter=quarter, method="blended", author=author, parameters=ProposalParameters(request).to_json()
    )
    services = client.app.state.services  # type: ignore[attr-defined]
    with services.session(write=True) as session:
        return ProposalRepository(session).create(header, rows).id


def _problem(res: Any, status: int) -> dict[str, Any]:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json"), res.headers
    body: dict[str, Any] = res.json()
    assert body["status"] == status and body["detail"] and body["request_id"] == res.headers["x-request-id"]
    return body


class Capture(logging.Handler):
    """Records of the 'salesplan' loggers (they do not propagate to the root, so caplog misses them)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Capture:
        logging.getLogger("salesplan").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("salesplan").removeHandler(self)


# ------------------------------------------------------------------------- maker-checker (finding 3)
def test_nobody_approves_their_own_or_their_edited_draft(client: TestClient) -> None:
    ana, bob, admin = _key(client, "planner", "ana"), _key(client, "planner", "bob"), _key(client, "admin")
    pid = _seed(client, author="ana")
    url = f"/api/v1/targets/proposals/{pid}"
    body = _problem(client.post(f"{url}:approve", json={"version": 1}, headers=_h(ana)), 403)
    assert "'ana' wrote proposal" in body["detail"] and "four eyes" in body["detail"]
    patched = client.patch(url, json={"version": 1, "overrides": {"North": 500.0}}, headers=_h(bob))
    assert patched.status_code == 200, patched.text  # bob edits ana's draft...
    body = _problem(client.post(f"{url}:approve", json={"version": 2}, headers=_h(bob)), 403)
    assert "'bob' edited proposal" in body["detail"]  # ...so he may not approve it either
    assert client.get(url, headers=_h(admin)).json()["status"] == "draft"  # nothing changed
    ok = client.post(f"{url}:approve", json={"version": 2, "reason": "reviewed"}, headers=_h(admin))
    assert ok.status_code == 200 and ok.json()["approved_by"] == "test-admin", ok.text


def test_case_and_spaces_do_not_make_another_person(tmp_path: Path) -> None:
    engine = make_engine(upgraded(f"sqlite:///{tmp_path / 'app.db'}"))
    sessions = session_factory(engine)
    with transaction(sessions, write=True) as s:
        pid = ProposalRepository(s).create(NewProposal("2027Q1", "blended", "Ana"), []).id
    # even a caller that commits after the refusal...
    with transaction(sessions, write=True) as s, pytest.raises(ForbiddenError, match="may not approve"):
        ProposalRepository(s).approve(pid, by=" ana ", expected_version=1)
    with sessions() as s:  # ...stores no approval
        assert ProposalRepository(s).get(pid).status == "draft"
    with transaction(sessions, write=True) as s:  # switched off (SALESPLAN_MAKER_CHECKER=false): allowed
        assert ProposalRepository(s).approve(pid, by="Ana", expected_version=1, four_eyes=False).status == (
            "approved"
        )
    engine.dispose()


def test_maker_checker_can_be_switched_off(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, maker_checker=False))) as c:
        ana = _key(c, "planner", "ana")
        pid = _seed(c, author="ana")
        res = c.post(f"/api/v1/targets/proposals/{pid}:approve", json={"version": 1}, headers=_h(ana))
        assert res.status_code == 200, res.text


def test_one_approved_proposal_per_quarter_and_levels_with_history(client: TestClient) -> None:
    admin, ana = _key(client, "admin"), _key(client, "planner", "ana")
    first, second = _seed(client, "ana"), _seed(client, "ana")
    other_levels, other_quarter = (
        _seed(client, "ana", by=("category",)),
        _seed(client, "ana", quarter="2027Q2"),
    )
    base = "/api/v1/targets/proposals"
    for pid in (first, other_levels, other_quarter):
        assert client.post(f"{base}/{pid}:approve", json={"version": 1}, headers=_h(admin)).status_code == 200
    res = client.post(f"{base}/{second}:approve", json={"version": 1, "reason": "the board's plan"},
                      headers=_h(admin))  # fmt: skip
    assert res.status_code == 200, res.text
    old = client.get(f"{base}/{first}", headers=_h(ana)).json()
    assert (old["status"], old["superseded_by"], old["version"]) == ("superseded", second, 3)
    assert old["scope"] == "sellout:region"
    approved = client.get(base, params={"status": "approved"}, headers=_h(ana)).json()["items"]
    assert sorted(p["id"] for p in approved) == sorted([second, other_levels, other_quarter])
    superseded = client.get(base, params={"status": "superseded"}, headers=_h(ana)).json()["items"]
    assert [p["id"] for p in superseded] == [first]
    _problem(client.post(f"{base}/{first}:reject", json={"version": 3}, headers=_h(admin)), 409)

    history = client.get(f"{base}/{second}/history", headers=_h(ana)).json()
    assert history["proposal"]["id"] == second
    steps = [(e["action"], e["actor"]) for e in history["entries"]]
    assert steps == [("proposal.create", "ana"), ("proposal.approve", "test-admin")]
    approve = history["entries"][-1]
    admin_id = client.get("/api/v1/me", headers=_h(admin)).json()["key_prefix"]
    assert approve["supersedes"] == [first] and approve["reason"] == "the board's plan"
    with client.app.state.services.session() as s:  # type: ignore[attr-defined]
        admin_key_id = s.scalar(select(ApiKey.id).where(ApiKey.key_prefix == admin_id))
    assert approve["actor_key_id"] == admin_key_id  # which key acted, not only a name
    old_history = client.get(f"{base}/{first}/history", headers=_h(ana)).json()["entries"]
    assert [e["action"] for e in old_history][-1] == "proposal.supersede"
    assert old_history[-1]["superseded_by"] == second
    assert (old_history[-1]["from_version"], old_history[-1]["to_version"]) == (2, 3)
    _problem(client.get(f"{base}/nope/history", headers=_h(ana)), 404)


def test_racing_approvals_leave_exactly_one_approved(tmp_path: Path) -> None:
    """Eight checkers approve eight drafts of one quarter and scope at once: the database keeps one."""
    engine = make_engine(upgraded(f"sqlite:///{tmp_path / 'app.db'}"))
    sessions = session_factory(engine)
    params = ProposalParameters(ProposalRequest(quarter="2027Q1", by=("region",))).to_json()
    with transaction(sessions, write=True) as s:
        ids = [ProposalRepository(s).create(NewProposal("2027Q1", "blended", "ana", params), []).id
               for _ in range(8)]  # fmt: skip
    barrier, errors = threading.Barrier(8), []

    def approve(pid: str) -> None:
        barrier.wait()
        try:
            with transaction(sessions, write=True) as s:
                ProposalRepository(s).approve(pid, by="boss", expected_version=1)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(pid,)) for pid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(e, ConflictError) for e in errors), errors
    with sessions() as s:
        statuses = dict(s.execute(text("SELECT id, status FROM proposals")).all())
        links = dict(s.execute(text("SELECT id, superseded_by FROM proposals")).all())
    assert list(statuses.values()).count("approved") == 1
    winner = next(k for k, v in statuses.items() if v == "approved")
    assert links[winner] is None and all(links[k] for k, v in statuses.items() if v == "superseded")
    engine.dispose()


def test_cli_obeys_the_same_approval_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from salesplan.cli import app
    from salesplan.config import get_settings

    url = upgraded(f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    with transaction(session_factory(engine), write=True) as s:
        pid = ProposalRepository(s).create(NewProposal("2027Q1", "blended", "ana"), []).id
    engine.dispose()
    runner = CliRunner()
    refused = runner.invoke(app, ["plan", "approve", pid, "--by", "ANA"])
    assert refused.exit_code == 1 and "may not approve" in refused.output, refused.output
    ok = runner.invoke(app, ["plan", "approve", pid, "--by", "bob"])
    assert ok.exit_code == 0 and "approved" in ok.output, ok.output


# ---------------------------------------------------------------------- keys (findings 3, 4, 6)
def test_key_names_unique_printable_and_rotatable(tmp_path: Path) -> None:
    engine = make_engine(upgraded(f"sqlite:///{tmp_path / 'app.db'}"))
    sessions = session_factory(engine)
    with transaction(sessions, write=True) as s:
        keys = ApiKeyRepository(s)
        first, _ = keys.create("north-planning", "planner")
        for bad in ("evil\x1b[31mred", "tab\there", "", " lead", "trail ", "x" * 101, "naïve"):
            with pytest.raises(ConfigError, match="not allowed"):
                keys.create(bad, "planner")
    with pytest.raises(ConflictError, match="already named"), transaction(sessions, write=True) as s:
        ApiKeyRepository(s).create("North-Planning", "analyst")  # case does not make another name
    with transaction(sessions, write=True) as s:
        rotated, _ = ApiKeyRepository(s).create("north-planning", "planner", replace=True)
    with sessions() as s:
        keys = ApiKeyRepository(s)
        assert keys.verify(first) is None and keys.verify(rotated) is not None
        assert [k.name for k in keys.list(include_revoked=False)] == ["north-planning"]
    engine.dispose()


def test_apikey_cli_refuses_escapes_and_lists_old_names_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from salesplan.cli import app
    from salesplan.config import get_settings

    url = upgraded(f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("SALESPLAN_DATABASE_URL", url)
    get_settings.cache_clear()
    runner = CliRunner()
    res = runner.invoke(app, ["apikey", "create", "--role", "crm", "--name", "x\x1b]0;pwned\x07"])
    assert res.exit_code == 1 and "not allowed" in res.output and "\x1b" not in res.output, res.output
    assert runner.invoke(app, ["apikey", "create", "--role", "crm", "--name", "crm-sync"]).exit_code == 0
    dup = runner.invoke(app, ["apikey", "create", "--role", "crm", "--name", "crm-sync"])
    assert dup.exit_code == 1 and "already named" in dup.output and "--replace" in dup.output
    engine = make_engine(url)  # a name stored before names were checked (migration 0003 keeps it)
    with engine.begin() as c:
        c.execute(update(ApiKey).where(ApiKey.name == "crm-sync").values(name="old\x1b[2Jname"))
    engine.dispose()
    listed = runner.invoke(app, ["apikey", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "\x1b" not in listed.output and "old\\x1b[2Jname" in listed.output


def test_access_log_names_the_key_never_the_secret(shared: TestClient) -> None:
    key = _key(shared, "analyst")
    with Capture() as logs:
        assert shared.get("/api/v1/models", headers=_h(key)).status_code == 200
    line = next(r for r in logs.records if r.name == "salesplan.access")
    assert line.key_name == "test-analyst" and line.role == "analyst"  # type: ignore[attr-defined]
    assert line.key_prefix == key.split("_")[1] and len(line.key_id) == 36  # type: ignore[attr-defined]
    assert key not in json.dumps(line.__dict__, default=str)


def test_failed_authentication_is_throttled_per_client(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, auth_failures_per_minute=5))) as c:
        good = _key(c, "analyst")
        assert c.get("/api/v1/me", headers=_h(good)).status_code == 200  # known good, cached
        for i in range(5):
            _problem(c.get("/api/v1/me", headers=_h(f"sp_{i:08d}_" + "x" * 43)), 401)
        res = c.get("/api/v1/me", headers=_h("sp_guessing_" + "x" * 43))
        body = _problem(res, 429)
        assert int(res.headers["retry-after"]) >= 1 and "too many failed" in body["detail"]
        assert c.get("/api/v1/me", headers=_h(good)).status_code == 200  # a cached good key still works
        throttle: AuthThrottle = c.app.state.services.auth_throttle  # type: ignore[attr-defined]
        later = time.monotonic() + 61
        throttle.clock = lambda: later  # the minute has passed
        _problem(c.get("/api/v1/me", headers=_h("sp_guessing_" + "y" * 43)), 401)


def test_key_cache_trusts_an_entry_one_second_at_most() -> None:
    from salesplan.serving.db.records import ApiKeyRecord

    now = [100.0]
    cache = KeyCache(max_stale_s=1.0, clock=lambda: now[0])
    record = ApiKeyRecord("id-1", "a", "crm", "abcdefgh", None, None, None)  # type: ignore[arg-type]
    cache.put("digest", record, verified_at=100.0)
    now[0] = 100.9
    assert cache.get("digest") is record
    now[0] = 101.2  # no sync since: not trusted, the caller verifies against the database again
    assert cache.get("digest") is None
    cache.synced(set(), set(), started_at=101.0)  # a sync that did not ask about it vouches for nothing
    assert cache.get("digest") is None
    cache.synced({"id-1"}, set(), started_at=101.0)  # a sync that began at 101.0 found it still active
    assert cache.get("digest") is record
    cache.synced({"id-1"}, {"id-1"}, started_at=101.1)  # revoked: gone for good
    assert cache.get("digest") is None and cache.key_ids() == set()
    assert "id-1" in cache.take_used() and cache.take_used() == {}


def test_last_used_is_written_in_batches_not_per_check(client: TestClient) -> None:
    key = _key(client, "crm")
    services = client.app.state.services  # type: ignore[attr-defined]
    services._key_sync.stop()  # this test flushes by hand
    for _ in range(3):
        assert client.get("/api/v1/me", headers=_h(key)).status_code == 200
    prefix = key.split("_")[1]
    with services.session() as s:
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.key_prefix == prefix)) is None
    services.flush_key_use()
    with services.session() as s:
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.key_prefix == prefix)) is not None


# ------------------------------------------------------ no 500s, domains, strict types (findings 2, 6)
def test_an_unexpected_error_is_problem_details_with_a_request_id_logged_once(
    shared: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = _key(shared, "admin")
    services = shared.app.state.services  # type: ignore[attr-defined]

    def broken() -> None:
        raise RuntimeError("boom: an invariant broke")

    monkeypatch.setattr(services.models, "status", broken)
    with Capture() as logs:
        res = shared.get("/api/v1/models", headers={**_h(admin), "X-Request-ID": "req-42"})
    body = _problem(res, 500)
    assert body["request_id"] == "req-42" and "boom" not in res.text  # no internals to the client
    errors = [r for r in logs.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].request_id == "req-42"  # type: ignore[attr-defined]
    assert "RuntimeError: boom" in logging.getLogger("salesplan").handlers[0].format(errors[0])
    access = [r for r in logs.records if r.name == "salesplan.access"]
    assert len(access) == 1 and access[0].status == 500 and access[0].key_name == "test-admin"  # type: ignore[attr-defined]


def test_a_500_keeps_the_connection_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server: after the 500 the same TCP connection answers the next request."""
    app = create_app(_settings(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        services = app.state.services
        with services.session(write=True) as session:
            admin, _ = ApiKeyRepository(session).create("admin", "admin")
        monkeypatch.setattr(services.models, "status", lambda: 1 / 0)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            reader = conn.makefile("rb")
            for path, status in (("/api/v1/models", 500), ("/health", 200)):
                conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {admin}\r\n\r\n".encode())
                head = reader.readline().decode()
                assert f" {status} " in head, head
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    assert name.lower() != "connection" or "close" not in value.lower()
                reader.read(length)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/api/v1/deals/score", {"amount": True}, "amount"),
        ("POST", "/api/v1/deals/score", {"amount": "17800"}, "amount"),
        ("POST", "/api/v1/deals/score", {"amount": 1, "n_slips": True}, "n_slips"),
        ("POST", "/api/v1/deals/score", {"amount": 1, "attributes": {"x": True}}, "attributes"),
        ("POST", "/api/v1/deals/score", {"amount": 1, "as_of": "9999-12-31"}, "as_of"),
        ("POST", "/api/v1/deals/score", {"amount": 1e300}, "amount"),
        ("POST", "/api/v1/budgets/allocate", {"total": 10, "capz": {"tv": 1}}, "capz"),
        ("POST", "/api/v1/budgets/allocate", {"total": True}, "total"),
        ("POST", "/api/v1/budgets/allocate", {"total": 10, "periods": "13"}, "periods"),
        ("POST", "/api/v1/targets/proposals/x:approve", {"version": "1"}, "version"),
        ("POST", "/api/v1/targets/proposals/x:approve", {"version": True}, "version"),
        ("POST", "/api/v1/targets/proposals/x:approve", {"version": 1, "by": "me"}, "by"),
        # 1.0 is a JSON Schema integer (accepted, tests/test_api_integers.py); a fraction is not
        ("PATCH", "/api/v1/targets/proposals/x", {"version": 1.5, "overrides": {"a": 1}}, "version"),
        ("PATCH", "/api/v1/targets/proposals/x", {"version": 1, "overrides": {"a": True}}, "overrides"),
        ("POST", "/api/v1/targets/proposals", {"quarter": "２０２７Q1", "by": ["region"]}, "quarter"),
        (
            "POST",
            "/api/v1/targets/proposals",
            {"quarter": "2027Q1", "by": ["region"], "probability": True},
            "probability",
        ),
        (
            "POST",
            "/api/v1/forecasts/what-if",
            {"ids": ["a"], "start": "2027-01-04", "end": "2027-01-10", "promo": True},
            "promo",
        ),
        (
            "POST",
            "/api/v1/forecasts/what-if",
            {"ids": ["a"], "start": "0001-01-01", "end": "2027-01-10"},
            "start",
        ),
    ],
)
def test_bodies_are_strictly_typed_bounded_and_closed(
    shared: TestClient, method: str, path: str, body: dict[str, Any], where: str
) -> None:
    admin = _key(shared, "admin")
    res = shared.request(method, path, json=body, headers=_h(admin))
    assert where in _problem(res, 422)["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/targets/proposals?quarter=２０２７Q1",  # fullwidth digits
        "/api/v1/pipeline?quarter=２０２７Q1",
        "/api/v1/deals/open?offset=1000000000000000000000000000000",
        "/api/v1/targets/proposals?offset=10000001",
        "/api/v1/funnel?created_from=0001-01-01",
        "/api/v1/forecasts?start=9999-12-31",
        "/api/v1/targets/implied-probability?quarter=2027Q1&by=region&unit_id=t&value=1e300",
    ],
)
def test_query_parameters_have_domains(shared: TestClient, path: str) -> None:
    _problem(shared.get(path, headers=_h(_key(shared, "admin"))), 422)


def test_quarters_are_ascii() -> None:
    assert check_quarter("2027Q1") == "2027Q1"
    with pytest.raises(ConfigError, match="2027Q1"):
        check_quarter("２０２７Q1")


def test_a_chunked_body_over_the_limit_is_413(shared: TestClient) -> None:
    admin = _key(shared, "admin")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        yield b'{"total": 1, "caps": {'
        for i in range(500):
            yield f'"c{i}": 1, '.encode()
        yield b'"z": 1}}'

    for path in ("/api/v1/budgets/allocate", "/api/v1/deals/score"):
        res = shared.post(path, content=chunks(), headers={**_h(admin), "content-type": "application/json"})
        assert _problem(res, 413)["title"] == "Request too large"


# -------------------------------------------------------------------------- /ready and /docs (finding 6)
def test_ready_tells_the_public_only_ready_or_not(shared: TestClient) -> None:
    public = shared.get("/ready")
    assert public.status_code == 503 and public.json()["detail"] == "not ready"
    assert "checks" not in public.json() and "app.db" not in public.text and "sqlite" not in public.text
    assert shared.get("/ready", headers=_h("sp_nothing1_" + "x" * 43)).json()["detail"] == "not ready"
    operator = shared.get("/ready", headers=_h(_key(shared, "admin"))).json()
    assert "salesplan-deals: not loaded" in operator["detail"] and operator["checks"]["database"]["ok"]


def test_api_docs_need_no_cdn(shared: TestClient) -> None:
    page = shared.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://swagger.io", "")
    js = shared.get("/docs/static/swagger-ui-bundle.js")
    assert (
        js.status_code == 200
        and len(js.content) > 500_000
        and js.headers["content-type"].startswith("text/javascript")
    )
    assert shared.get("/docs/static/swagger-ui.css").status_code == 200
    assert shared.get("/docs/static/..%2F..%2Fsettings.py").status_code == 404
    assert shared.get("/redoc").status_code == 404  # ReDoc would come from a CDN: not offered
