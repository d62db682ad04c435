"""API keys: issued once in plaintext, stored only as a hash, verified in constant time.

Keys look like ``sp_<prefix>_<secret>``: an 8-character lookup prefix and a 43-character base62 secret
(256 random bits). Only SHA-256 of the whole key is stored. A slow password hash (scrypt, PBKDF2) protects
*guessable* secrets; a 256-bit random one cannot be brute-forced, so a fast hash is as safe and keeps
per-request verification cheap. The plaintext is never stored, logged or put in the audit log.

Verifying a key only reads: ``last_used_at`` is written in batches by the service (:meth:`ApiKeyRepository.
touch`), so a read-only or busy database never turns a key check into a failed write. Names are unique
among active keys (ignoring case) and restricted to printable ASCII (``records.check_key_name``).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
import string
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesplan.errors import ConflictError, NotFoundError
from salesplan.serving.db.audit import AuditRepository, Clock, utcnow
from salesplan.serving.db.records import Actor, ApiKeyRecord, Role, check_key_name, check_one_of
from salesplan.serving.db.tables import API_KEY_ROLES, ApiKey


class ApiKeyRepository:
    """API keys: issued once in plaintext, stored as a hash, verified in constant time."""

    PREFIX_ALPHABET = string.ascii_lowercase + string.digits
    SECRET_ALPHABET = string.ascii_letters + string.digits
    KEY_RE = re.compile(r"sp_([a-z0-9]{8})_([A-Za-z0-9]{43})")

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock
        self.audit = AuditRepository(session, clock)

    @staticmethod
    def hash_key(plaintext: str) -> str:
        return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()

    def create(
        self, name: str, role: Role, actor: str | Actor = "system", *, replace: bool = False
    ) -> tuple[str, ApiKeyRecord]:
        """New key; the plaintext is returned here and nowhere else — show it once, it cannot be recovered.
        ``replace`` revokes the active key of that name first (rotation), else an active namesake is a
        ``ConflictError``."""
        check_one_of(role, API_KEY_ROLES, "role")
        check_key_name(name)
        if replace:  # a write before any read (see ProposalRepository.approve)
            replaced = self.session.scalars(
                update(ApiKey)
                .where(func.lower(ApiKey.name) == name.lower(), ApiKey.revoked_at.is_(None))
                .values(revoked_at=self.clock())
                .returning(ApiKey.id)
                .execution_options(synchronize_session=False)
            ).all()
            for old_id in replaced:
                self.audit.write(actor, "api_key.revoke", "api_key", old_id, {"name": name, "replaced": True})
        # 36^8 prefixes: a clash is all but impossible, and the unique index would refuse it anyway
        prefix = "".join(secrets.choice(self.PREFIX_ALPHABET) for _ in range(8))
        secret = "".join(secrets.choice(self.SECRET_ALPHABET) for _ in range(43))
        plaintext = f"sp_{prefix}_{secret}"
        key_id = str(uuid.uuid4())
        now = self.clock()
        try:
            with self.session.begin_nested():
                self.session.execute(
                    insert(ApiKey).values(
                        id=key_id,
                        name=name,
                        role=role,
                        key_prefix=prefix,
                        key_hash=self.hash_key(plaintext),
                        created_at=now,
                        revoked_at=None,
                        last_used_at=None,
                    )
                )
        except IntegrityError:  # the name is taken by an active key (the partial unique index)
            taken = self.session.scalars(
                select(ApiKey.key_prefix).where(
                    func.lower(ApiKey.name) == name.lower(), ApiKey.revoked_at.is_(None)
                )
            ).first()
            raise ConflictError(
                f"an active API key is already named {name!r} (prefix {taken}); choose another name, or "
                "revoke that key first (salesplan apikey create --replace does both)"
            ) from None
        self.audit.write(
            actor, "api_key.create", "api_key", key_id, {"name": name, "role": role, "prefix": prefix}
        )
        return plaintext, ApiKeyRecord(key_id, name, role, prefix, now, None, None)

    def verify(self, plaintext: str) -> ApiKeyRecord | None:
        """The key's record if it is valid and not revoked, else None (never says which part was wrong)."""
        match = self.KEY_RE.fullmatch(plaintext) if isinstance(plaintext, str) else None
        if match is None:
            return None
        digest = self.hash_key(plaintext)
        key = self.session.scalars(
            select(ApiKey)
            .where(ApiKey.key_prefix == match.group(1))
            .execution_options(populate_existing=True)
        ).one_or_none()
        stored = key.key_hash if key is not None else "0" * 64
        if (
            not hmac.compare_digest(stored.encode(), digest.encode())
            or key is None
            or key.revoked_at is not None
        ):
            return None
        return _key_record(key)

    def revoked_among(self, key_ids: Collection[str]) -> set[str]:
        """Which of ``key_ids`` are revoked (or gone): the service's key cache asks this every fraction of
        a second about the keys it holds, so a revocation reaches every worker within a second."""
        if not key_ids:
            return set()
        wanted = set(key_ids)
        active = set(
            self.session.scalars(select(ApiKey.id).where(ApiKey.id.in_(wanted), ApiKey.revoked_at.is_(None)))
        )
        return wanted - active

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Record when keys were last used (batched by the service; never moves a time backwards)."""
        for key_id, at in last_used.items():
            self.session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < at))
                .values(last_used_at=at)
                .execution_options(synchronize_session=False)
            )

    def revoke(self, id_or_prefix: str, actor: str | Actor = "system") -> ApiKeyRecord:
        """Revoke by id or prefix; revoking twice keeps the first revocation time."""
        key = self.session.scalars(
            select(ApiKey)
            .where(or_(ApiKey.id == id_or_prefix, ApiKey.key_prefix == id_or_prefix))
            .execution_options(populate_existing=True)
        ).one_or_none()
        if key is None:
            raise NotFoundError(
                f"API key {id_or_prefix!r} does not exist (give its id or 8-character prefix)"
            )
        if key.revoked_at is not None:
            return _key_record(key)
        now = self.clock()
        self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        self.audit.write(
            actor, "api_key.revoke", "api_key", key.id, {"name": key.name, "prefix": key.key_prefix}
        )
        return _key_record(key, revoked_at=now)

    def list(self, include_revoked: bool = True) -> builtins.list[ApiKeyRecord]:
        """All keys, oldest first (for an admin screen: names, roles, prefixes, last use)."""
        stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).execution_options(populate_existing=True)
        if not include_revoked:
            stmt = stmt.where(ApiKey.revoked_at.is_(None))
        return [_key_record(k) for k in self.session.scalars(stmt)]


def _key_record(k: ApiKey, **overrides: Any) -> ApiKeyRecord:
    values = {
        "id": k.id,
        "name": k.name,
        "role": cast(Role, k.role),
        "key_prefix": k.key_prefix,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }
    return ApiKeyRecord(**{**values, **overrides})
