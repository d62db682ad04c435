"""Proposal store, API keys and audit log against SQLite and PostgreSQL (``pg_url``: tests/conftest_pg.py).

Each PostgreSQL test gets its own schema, so runs can share one server (xdist, several people at once)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest_pg import fresh_schema
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from salesplan.errors import ConfigError, ConflictError, DataValidationError, ForbiddenError
from salesplan.serving.db.engine import (
    database_problem,
    head_revision,
    known_revisions,
    make_engine,
    migrate,
    ping,
    session_factory,
)
from salesplan.serving.db.repository import (
    Actor,
    ApiKeyRepository,
    AuditRepository,
    NewProposal,
    NotFoundError,
    ProposalRepository,
    ProposalRowData,
)
from salesplan.serving.db.tables import ApiKey, AuditEntry, Base, ProposalRow

DB = tuple[Engine, sessionmaker[Session]]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh schema on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
        return
    with fresh_schema(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[DB]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine, session_factory(engine)
    engine.dispose()


def _rows(scale: float = 1.0) -> list[ProposalRowData]:
    return [
        ProposalRowData(
            level="region",
            unit_id="North",
            target=Decimal("1500000.10") * Decimal(str(scale)),
            forecast_q50=1400000.555,  # type: ignore[arg-type]
            p_hit=0.61,
            last_period_actual=1300000,  # type: ignore[arg-type]
            phasing={"2027-01": 500000.03, "2027-02": 500000.03, "2027-03": 500000.04},
        ),
        ProposalRowData(
            level="store",
            unit_id="S1",
            parent_id="North",
            target=0.1 + 0.2,  # type: ignore[arg-type]  # a float; stored and read back as Decimal("0.30")
            p_hit=1.0,
            phasing={"2027-01": 0.1, "2027-02": 0.1, "2027-03": 0.1},
            overridden=True,
        ),
        ProposalRowData(level="store", unit_id="S2", parent_id="North", target=1234.565),  # type: ignore[arg-type]
    ]


def _new(quarter: str = "2027Q1", author: str = "ana") -> NewProposal:
    return NewProposal(
        quarter=quarter,
        method="forecast_uplift",
        author=author,
        parameters={"uplift": 0.08, "floor": None, "levels": ("region", "store")},
        input_models={"salesplan-forecast": {"version": "7", "run_id": "abc123"}},
        note="first cut",
    )


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migration_matches_orm_and_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        problem = database_problem(engine)  # nothing there yet: never created on the side
        assert problem is not None and problem[0] in ("missing", "schema"), problem
        assert "salesplan db upgrade" in problem[1]
        assert not ping(engine)[0]
        assert migrate(db_url) == migrate(db_url) == head_revision() == max(known_revisions())
        assert database_problem(engine) is None
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            insp = inspect(conn)
            db_cols = {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}
        assert diff == []
        # the expression index (unique active key names, any case) that autogenerate cannot compare
        with engine.connect() as conn:
            sql = (
                "SELECT sql FROM sqlite_master WHERE name = 'uq_api_keys_active_name'"
                if engine.dialect.name == "sqlite"
                else "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_api_keys_active_name'"
            )
            definition = str(conn.execute(text(sql)).scalar()).lower().replace("((name)::text)", "(name)")
        assert "unique" in definition and "lower(name)" in definition and "revoked_at is null" in definition
        orm_cols = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
        assert db_cols == {**orm_cols, "alembic_version": {"version_num"}}
        assert ping(engine) == (True, f"{engine.dialect.name} reachable, schema at {head_revision()}")
    finally:
        engine.dispose()


def test_stored_proposal_reads_back_identical(db: DB) -> None:
    engine, factory = db
    rows = _rows()
    assert rows[1].target == Decimal("0.30") and rows[2].target == Decimal("1234.57")  # half-up to the cent
    with factory.begin() as s:
        created = ProposalRepository(s).create(_new(), rows)
    with factory() as s:
        got = ProposalRepository(s).get(created.id)
    assert got == created
    assert got.rows == rows
    assert [str(r.target) for r in got.rows] == ["1500000.10", "0.30", "1234.57"]
    assert got.rows[0].forecast_q50 == Decimal("1400000.56") and got.rows[0].last_period_actual == Decimal(
        "1300000.00"
    )
    assert got.rows[1].phasing == {"2027-01": 0.1, "2027-02": 0.1, "2027-03": 0.1}
    assert got.parameters == {"uplift": 0.08, "floor": None, "levels": ["region", "store"]}
    assert got.input_models["salesplan-forecast"]["run_id"] == "abc123"
    assert (got.status, got.version, got.author, got.note, got.approved_by) == (
        "draft",
        1,
        "ana",
        "first cut",
        None,
    )
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    with engine.connect() as conn:  # the database itself holds exact cents
        stored = conn.execute(select(ProposalRow.target).order_by(ProposalRow.position)).scalars().all()
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in stored] == [r.target for r in rows]


def test_list_filter_count_and_not_found(db: DB) -> None:
    _, factory = db
    with factory.begin() as s:
        repo = ProposalRepository(s)
        a = repo.create(_new("2027Q1"), _rows())
        b = repo.create(_new("2027Q1"), _rows(2))
        c = repo.create(_new("2027Q2"), [])
        repo.approve(b.id, by="boss", expected_version=1)
    with factory() as s:
        repo = ProposalRepository(s)
        assert {p.id for p in repo.list()} == {a.id, b.id, c.id}
        assert {p.id for p in repo.list(quarter="2027Q1")} == {a.id, b.id}
        assert [p.id for p in repo.list(quarter="2027Q1", status="approved")] == [b.id]
        assert repo.count(quarter="2027Q1", status="draft") == 1
        assert len(repo.list(limit=2)) == 2 and len(repo.list(limit=2, offset=2)) == 1
        assert repo.get(c.id).rows == []
        with pytest.raises(NotFoundError, match="proposal nope does not exist"):
            repo.get("nope")
        with pytest.raises(NotFoundError):
            repo.approve("nope", by="boss", expected_version=1)
        with pytest.raises(ConfigError, match="2027Q1"):
            repo.list(quarter="2027-Q1")


def test_approved_and_rejected_proposals_are_immutable(db: DB) -> None:
    _, factory = db
    with factory.begin() as s:
        repo = ProposalRepository(s)
        p = repo.create(_new(), _rows())
        q = repo.create(_new(), _rows())
        approved = repo.approve(p.id, by="boss", expected_version=1)
        rejected = repo.reject(q.id, by="boss", expected_version=1, reason="too aggressive")
    assert (approved.status, approved.version, approved.approved_by) == ("approved", 2, "boss")
    assert approved.approved_at is not None and (rejected.status, rejected.version) == ("rejected", 2)
    with factory() as s:
        repo = ProposalRepository(s)
        with pytest.raises(ConflictError, match=f"proposal {p.id} is approved; approved proposals cannot"):
            repo.replace_rows(p.id, _rows(3), expected_version=2, actor="ana")
        with pytest.raises(ConflictError, match="is approved"):
            repo.reject(p.id, by="boss", expected_version=2)
        with pytest.raises(ConflictError, match="is rejected"):
            repo.approve(q.id, by="boss", expected_version=2)
        s.rollback()
        assert repo.get(p.id).rows == _rows() and repo.get(p.id).version == 2


def test_stale_version_loses_with_a_clear_conflict(db: DB) -> None:
    _, factory = db
    with factory.begin() as s:
        pid = ProposalRepository(s).create(_new(), _rows()).id
    s1, s2 = factory(), factory()
    try:
        v1, v2 = ProposalRepository(s1).get(pid).version, ProposalRepository(s2).get(pid).version
        assert v1 == v2 == 1
        s2.commit()  # two clients read version 1 in their own requests (SQLite: readers hold no lock after)
        edited = [replace(_rows()[0], target=Decimal("1600000.00"), overridden=True), *_rows()[1:]]
        ProposalRepository(s1).replace_rows(pid, edited, expected_version=v1, actor="ana")
        s1.commit()
        with pytest.raises(
            ConflictError, match=r"is at version 2, not 1; someone changed it since you read it; reload"
        ):
            ProposalRepository(s2).replace_rows(pid, _rows(5), expected_version=v2, actor="bob")
        s2.rollback()
        with pytest.raises(ConflictError, match="is at version 2, not 7"):
            ProposalRepository(s2).approve(pid, by="boss", expected_version=7)
    finally:
        s1.close()
        s2.close()
    with factory() as s:
        got = ProposalRepository(s).get(pid)
    assert got.version == 2 and got.rows == edited


def test_concurrent_writers_exactly_one_wins_per_version(db: DB) -> None:
    """8 threads race with the version they read; round 3 mixes approvals in. No lost update."""
    _, factory = db
    with factory.begin() as s:
        pid = ProposalRepository(s).create(_new(), _rows()).id
    n_threads, winners = 8, []
    for round_ in range(3):
        barrier = threading.Barrier(n_threads, timeout=60)
        outcome: dict[int, str] = {}

        def attempt(
            i: int,
            round_: int = round_,
            barrier: threading.Barrier = barrier,
            outcome: dict[int, str] = outcome,
        ) -> None:
            with factory() as s:
                repo = ProposalRepository(s)
                version = repo.get(pid).version
                s.commit()
                barrier.wait()
                try:
                    if round_ == 2 and i % 2:
                        repo.approve(pid, by=f"boss{i}", expected_version=version)
                    else:
                        repo.replace_rows(
                            pid, _rows(1 + i + 10 * round_), expected_version=version, actor=f"t{i}"
                        )
                    s.commit()
                    outcome[i] = "won"
                except ConflictError:
                    s.rollback()
                    outcome[i] = "conflict"

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(outcome) == n_threads, f"round {round_}: a thread failed with an unexpected error"
        won = [i for i, o in outcome.items() if o == "won"]
        assert len(won) == 1, f"round {round_}: {outcome}"
        winners.append((round_, won[0]))
    with factory() as s:
        repo = ProposalRepository(s)
        final = repo.get(pid)
        history = repo.history(pid)
    assert final.version == 1 + len(winners) == 4
    assert len(history) == 1 + len(winners)
    last_round, last = winners[-1]
    last_replace = next(1 + i + 10 * r for r, i in reversed(winners) if not (r == 2 and i % 2))
    assert final.rows == _rows(last_replace)
    assert final.status == ("approved" if last % 2 else "draft")
    assert last_round == 2


def test_audit_rows_record_every_change(db: DB) -> None:
    _, factory = db
    with factory.begin() as s:
        repo = ProposalRepository(s)
        pid = repo.create(_new(), _rows()).id
        new_rows = [replace(_rows()[0], target=Decimal("1600000.00"), overridden=True), _rows()[1]]
        repo.replace_rows(pid, new_rows, expected_version=1, actor="bob")
        repo.approve(pid, by="boss", expected_version=2)
    with factory() as s:
        history = ProposalRepository(s).history(pid)
        all_entries = AuditRepository(s).list()
    assert [(h.action, h.actor) for h in history] == [
        ("proposal.create", "ana"),
        ("proposal.replace_rows", "bob"),
        ("proposal.approve", "boss"),
    ]
    change = history[1].detail
    versions = (change["from_version"], change["to_version"])
    assert versions == (1, 2) and (change["n_changes"], change["overridden"], change["rows"]) == (2, 2, 2)
    assert {
        "level": "region",
        "unit_id": "North",
        "old_target": "1500000.10",
        "new_target": "1600000.00",
    } in (change["changes"])
    assert {"level": "store", "unit_id": "S2", "old_target": "1234.57", "new_target": None} in change[
        "changes"
    ]
    assert all(e.object_id == pid for e in all_entries) and len(all_entries) == 3


def test_duplicate_units_are_refused_before_the_database(db: DB) -> None:
    _, factory = db
    with factory() as s, pytest.raises(DataValidationError, match="store/S1"):
        ProposalRepository(s).create(_new(), [*_rows(), _rows()[1]])
    with pytest.raises(ConfigError, match="phasing keys"):
        ProposalRowData(level="store", unit_id="S1", target=1, phasing={"2027-13": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="finite"):
        ProposalRowData(level="store", unit_id="S1", target=float("nan"))  # type: ignore[arg-type]


def test_api_keys_hashed_at_rest_verify_and_revoke(db: DB) -> None:
    engine, factory = db
    t0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    now = [t0]
    with factory.begin() as s:
        keys = ApiKeyRepository(s, clock=lambda: now[0])
        plain, record = keys.create("crm-sync", "crm", actor="admin")
        other_plain, _ = keys.create("analyst-ro", "analyst")
        with pytest.raises(ConfigError, match="role must be one of"):
            keys.create("x", "root")  # type: ignore[arg-type]
    assert plain.startswith(f"sp_{record.key_prefix}_") and len(plain) == 3 + 8 + 1 + 43
    assert record.last_used_at is None and record.role == "crm" and plain != other_plain

    with engine.connect() as conn:  # nothing of the plaintext is at rest: not the key, not its secret
        dump = repr(conn.execute(select(ApiKey)).all()) + repr(conn.execute(select(AuditEntry)).all())
    assert plain not in dump and plain.rsplit("_", 1)[1] not in dump
    assert ApiKeyRepository.hash_key(plain) in dump

    with factory.begin() as s:
        keys = ApiKeyRepository(s, clock=lambda: now[0])
        verified = keys.verify(plain)
        assert verified is not None and verified.id == record.id and verified.last_used_at is None
        wrong = plain[:-1] + ("A" if plain[-1] != "A" else "B")
        assert keys.verify(wrong) is None
        assert keys.verify("sp_nothere1_" + "x" * 43) is None and keys.verify("garbage") is None
        assert not s.dirty and not s.new  # verifying only reads: the service batches last_used_at
        keys.touch({record.id: t0 + timedelta(seconds=90)})
        keys.touch({record.id: t0})  # an older use never moves the time back
    with factory.begin() as s:
        keys = ApiKeyRepository(s, clock=lambda: now[0])
        listed = {k.id: k for k in keys.list()}
        assert listed[record.id].last_used_at == t0 + timedelta(seconds=90)
        revoked = keys.revoke(record.key_prefix, actor="admin")
        assert revoked.revoked_at == now[0] and not revoked.active
        with pytest.raises(NotFoundError, match="does not exist"):
            keys.revoke("zzzzzzzz")
    with factory.begin() as s:
        keys = ApiKeyRepository(s)
        assert keys.verify(plain) is None
        assert keys.verify(other_plain) is not None
        assert [k.name for k in keys.list(include_revoked=False)] == ["analyst-ro"]
        assert keys.revoke(record.id).revoked_at == revoked.revoked_at  # idempotent
        actions = [(a.action, a.actor) for a in AuditRepository(s).list(object_type="api_key")]
    assert actions == [("api_key.create", "admin"), ("api_key.create", "system"), ("api_key.revoke", "admin")]


def _scoped(author: str = "ana") -> NewProposal:
    return NewProposal("2027Q1", "blended", author, scope="sellout:region,store")


def test_four_eyes_and_one_approved_proposal_per_scope(db: DB) -> None:
    """Issue #20: the author and the editors may not approve; approving supersedes the scope's approved
    proposal with a link; every step is in the audit log with the key that acted."""
    _, factory = db
    with factory.begin() as s:
        repo = ProposalRepository(s)
        a, b = repo.create(_scoped(), _rows()), repo.create(_scoped(), _rows())
        other = repo.create(NewProposal("2027Q1", "blended", "ana", scope="bookings:region,team,rep"), [])
        repo.replace_rows(b.id, _rows(2), expected_version=1, actor=Actor("bob", "key-of-bob"))
    for who, role in (("Ana", "wrote"), ("bob ", "edited")):
        with pytest.raises(ForbiddenError, match=f"{role} proposal"), factory.begin() as s:
            ProposalRepository(s).approve(b.id, by=who, expected_version=2)
    with factory.begin() as s:
        repo = ProposalRepository(s)
        repo.approve(a.id, by=Actor("boss", "key-1"), expected_version=1)
        repo.approve(other.id, by="boss", expected_version=1)  # another scope: both stay approved
    with factory.begin() as s:
        header = ProposalRepository(s).approve(
            b.id, by=Actor("boss", "key-1"), expected_version=2, reason="ok"
        )
    with factory() as s:
        repo = ProposalRepository(s)
        old = repo.get(a.id)
        history = repo.history(b.id)
        statuses = {p.id: p.status for p in repo.list()}
    assert header.status == "approved" and (old.status, old.superseded_by, old.version) == (
        "superseded",
        b.id,
        3,
    )
    assert statuses == {a.id: "superseded", b.id: "approved", other.id: "approved"}
    assert [(h.action, h.actor, h.actor_key_id) for h in history] == [
        ("proposal.create", "ana", None),
        ("proposal.replace_rows", "bob", "key-of-bob"),
        ("proposal.approve", "boss", "key-1"),
    ]
    assert history[-1].detail["supersedes"] == [a.id] and history[-1].detail["reason"] == "ok"


def test_racing_checkers_leave_one_approved_proposal(db: DB) -> None:
    """Six checkers approve six drafts of one scope at once: every approval that answered succeeded in
    order (each superseding the last) or was refused as a conflict; one proposal ends approved."""
    _, factory = db
    with factory.begin() as s:
        ids = [ProposalRepository(s).create(_scoped(), []).id for _ in range(6)]
    barrier, errors = threading.Barrier(6, timeout=60), []

    def approve(pid: str) -> None:
        with factory() as s:
            barrier.wait()
            try:
                ProposalRepository(s).approve(pid, by="boss", expected_version=1)
                s.commit()
            except ConflictError as exc:
                s.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=approve, args=(pid,)) for pid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with factory() as s:
        final = {p.id: p for p in ProposalRepository(s).list()}
    approved = [p for p in final.values() if p.status == "approved"]
    assert len(approved) == 1, {k: v.status for k, v in final.items()}
    superseded = [p for p in final.values() if p.status == "superseded"]
    assert len(superseded) + len(errors) + 1 == 6
    assert all(p.superseded_by in final for p in superseded)


def test_api_key_names_unique_among_active_keys(db: DB) -> None:
    _, factory = db
    with factory.begin() as s:
        ApiKeyRepository(s).create("crm-sync", "crm")
    with pytest.raises(ConflictError, match="already named"), factory.begin() as s:
        ApiKeyRepository(s).create("CRM-Sync", "crm")
    with factory.begin() as s:
        keys = ApiKeyRepository(s)
        keys.create("crm-sync", "crm", replace=True)  # rotation: the old one is revoked
        assert [k.name for k in keys.list(include_revoked=False)] == ["crm-sync"]
        assert len(keys.list()) == 2
