"""The API keys' SQL (table `api_keys`, see scheduler.auth.key_service). Secrets never pass
through here: only digests."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scheduler.store.sql import Cursor, Queries, Row, integrity_errors, page

_KEY_COLUMNS = """id, name, owner_id, read_only, created_by, created_at, last_used_at, expires_at,
    revoked_at"""
# last_used_at is a hint for whoever audits the keys, not a log: one write a minute per key at
# most, so a busy integration does not write on every request.
LAST_USED_RESOLUTION_S = 60


class ApiKeyQueries(Queries):
    def insert_api_key(
        self,
        key_id: UUID,
        *,
        secret_sha256: bytes,
        name: str,
        owner_id: UUID | None,
        read_only: bool,
        created_by: str,
        expires_at: datetime | None,
        issuer_id: UUID | None = None,
    ) -> Row | None:
        """The new key's row. `issuer_id`: the key that issues it, which must still be usable
        when the row is written; None (no row written) when it is not.

        The issuer is checked in the insert's own statement, under a share lock on its row that
        revocation (an update of that row) must wait for, and that waits for a revocation in
        flight, then reads the issuer again: a key whose issuer is being revoked is either
        written before that revocation looks for the issuer's keys, or not at all. One
        statement: safe through a transaction pooler."""
        params = {
            "id": key_id,
            "digest": secret_sha256,
            "name": name,
            "owner": owner_id,
            "read_only": read_only,
            "created_by": created_by,
            "expires_at": expires_at,
            "issuer": issuer_id,
        }
        values = """%(id)s, %(digest)s, %(name)s, %(owner)s, %(read_only)s, %(created_by)s,
                    %(expires_at)s"""
        if issuer_id is None:
            source = f"values ({values})"
        else:
            source = f"""select {values} from api_keys issuer
                         where issuer.id = %(issuer)s and issuer.revoked_at is null
                           and (issuer.expires_at is null or issuer.expires_at > now())
                         for share of issuer"""
        with integrity_errors():
            return self.db.execute(
                f"""insert into api_keys
                      (id, secret_sha256, name, owner_id, read_only, created_by, expires_at)
                    {source} returning {_KEY_COLUMNS}""",
                params,
            ).fetchone()

    def api_key_for_authentication(self, key_id: UUID) -> Row | None:
        """The key's digest and scope, with whether it is usable now (the database's clock)."""
        return self.db.execute(
            f"""select {_KEY_COLUMNS}, secret_sha256,
                       revoked_at is null and (expires_at is null or expires_at > now()) as usable,
                       last_used_at is null
                         or last_used_at < now() - make_interval(secs => %s) as last_use_stale
                from api_keys where id = %s""",
            (LAST_USED_RESOLUTION_S, key_id),
        ).fetchone()

    def touch_api_key(self, key_id: UUID) -> None:
        self.db.execute(
            """update api_keys set last_used_at = now()
               where id = %s and (last_used_at is null
                                  or last_used_at < now() - make_interval(secs => %s))""",
            (key_id, LAST_USED_RESOLUTION_S),
        )

    def get_api_key(self, key_id: UUID) -> Row | None:
        return self.db.execute(
            f"select {_KEY_COLUMNS} from api_keys where id = %s", (key_id,)
        ).fetchone()

    def list_api_keys(self, *, limit: int, after: Cursor | None = None) -> list[Row]:
        return self.db.execute(
            f"""select {_KEY_COLUMNS} from api_keys
                where %(after_at)s::timestamptz is null
                   or (created_at, id) < (%(after_at)s, %(after_id)s::uuid)
                order by created_at desc, id desc limit %(limit)s""",
            page({"limit": limit}, after),
        ).fetchall()

    def revoke_api_key(self, key_id: UUID, *, issued_by_prefix: str) -> list[UUID]:
        """Revoke the key and every key issued by it, transitively (`created_by` is
        `issued_by_prefix` + the issuer's id); [] when there is no such key. Idempotent: a key
        revoked before keeps its first revocation time.

        One generation per statement, in one transaction: each statement reads the keys that
        exist once the previous one has locked (revoked) their issuers. A key being issued by
        one of them holds that issuer's row in share (insert_api_key), so the update of the
        issuer waits for it, and the next statement sees it; a key issued after the update
        finds its issuer revoked and is not written. (One recursive statement would read every
        generation in the snapshot of its start, and miss a key committed meanwhile.)"""
        revoked: list[UUID] = []
        with self.db.transaction():
            generation = [
                row["id"]
                for row in self.db.execute(
                    """update api_keys set revoked_at = coalesce(revoked_at, now())
                       where id = %s returning id""",
                    (key_id,),
                ).fetchall()
            ]
            while generation:
                revoked += generation
                generation = [
                    row["id"]
                    for row in self.db.execute(
                        """update api_keys set revoked_at = coalesce(revoked_at, now())
                           where created_by = any(%(issuers)s::text[])
                             and id <> all(%(revoked)s::uuid[])
                           returning id""",
                        {
                            "issuers": [f"{issued_by_prefix}{issuer}" for issuer in generation],
                            "revoked": revoked,
                        },
                    ).fetchall()
                ]
        return revoked
