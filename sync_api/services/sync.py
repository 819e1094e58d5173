"""The sync worker: pending keys -> absolute totals -> the ERP.

A push marks the (source, customer, month, currency) keys it changed in
``sync_pending`` (see ``services/sales.py``). The worker

1. claims a batch of keys with a lease (``UPDATE ... WHERE id IN (SELECT
   ... FOR UPDATE SKIP LOCKED)`` on PostgreSQL, so several workers never
   take the same key; on SQLite the one UPDATE is atomic as well);
2. recomputes each key's totals from the ledger in one GROUP BY (current
   revisions only, cancelled lines left out; a key whose lines were all
   cancelled sends zeros);
3. upserts them into the ERP, which stores absolute totals, so sending a
   total twice is harmless;
4. deletes a key only once the ERP confirmed it, and only at the version it
   read: a push in between keeps the key pending for the next round;
5. keeps the ERP's answer about the customers of the totals it took: those
   it names match no party yet and are listed in the sync status (with the
   count of their totals that wait there), the others match one and leave
   the list.

A worker that dies leaves its claim to expire after the lease; the next one
sends the same totals again. Rows the ERP refuses (422) are isolated, so the
other customers of the batch go through; the refused keys wait and are
tried again later. While the ERP is down the worker backs off
exponentially and records the error.
"""

import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from sync_api.erp import ErpClient, ErpError
from sync_api.line_spec import AMOUNT_DIGITS, QUANTITY_DIGITS
from sync_api.models import SalesLine, SyncPending, SyncState, UnmatchedCustomer
from sync_api.services.clock import utcnow
from sync_api.services.complaints import (
    ComplaintForwarder,
    ForwardReport,
    complaints_status,
)
from sync_api.services.money import format_scaled
from sync_api.services.sql import dialect_insert, execute_many

logger = logging.getLogger(__name__)

pending = SyncPending.__table__
lines = SalesLine.__table__
state = SyncState.__table__
unmatched = UnmatchedCustomer.__table__
STATE_ID = 1
ERROR_LENGTH = 1000


# Module-level statements: execute_many compiles each once per backend.
DELETE_CONFIRMED = delete(pending).where(
    pending.c.id == bindparam("key_id"),
    pending.c.version == bindparam("key_version"),
)
POSTPONE_REJECTED = (
    update(pending)
    .where(
        pending.c.id == bindparam("key_id"),
        pending.c.version == bindparam("key_version"),
    )
    .values(
        claim_token=None,
        claimed_until=None,
        retry_after=bindparam("retry_after"),
        attempts=pending.c.attempts + 1,
        last_error=bindparam("message"),
    )
)
DELETE_MATCHED = delete(unmatched).where(
    unmatched.c.source == bindparam("key_source"),
    unmatched.c.customer == bindparam("key_customer"),
)


@dataclass(frozen=True)
class SyncSettings:
    batch_size: int = 2500
    lease_seconds: float = 120.0
    poll_seconds: float = 0.5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    rejected_retry_seconds: float = 60.0

    @classmethod
    def from_config(cls, config: Any) -> "SyncSettings":
        return cls(
            batch_size=config["SYNC_BATCH_SIZE"],
            lease_seconds=config["SYNC_LEASE_SECONDS"],
            poll_seconds=config["SYNC_POLL_SECONDS"],
            backoff_seconds=config["SYNC_BACKOFF_SECONDS"],
            max_backoff_seconds=config["SYNC_MAX_BACKOFF_SECONDS"],
            rejected_retry_seconds=config["SYNC_REJECTED_RETRY_SECONDS"],
        )


@dataclass
class SyncReport:
    batches: int = 0
    rows_sent: int = 0
    keys_done: int = 0
    keys_rejected: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    complaints: ForwardReport | None = None

    @property
    def busy(self) -> bool:
        """Whether the pass sent anything, so that the worker looks again at
        once; complaints that only waited again (their customer unknown)
        leave it to poll."""
        return bool(self.batches or (self.complaints and self.complaints.forwarded))


@dataclass
class _Total:
    key_id: int
    version: int
    row: dict[str, Any]


@dataclass
class _Batch:
    token: str
    claimed_at: datetime
    totals: list[_Total]


@dataclass
class _Outcome:
    """What the ERP made of totals sent to it."""

    accepted: list[_Total] = field(default_factory=list)
    # Each with the ERP's message.
    rejected: list[tuple[_Total, str]] = field(default_factory=list)
    # (source, customer) -> totals waiting for a party, of the customers of
    # the accepted totals that match none yet.
    unmatched: dict[tuple[str, str], int] = field(default_factory=dict)

    def merge(self, other: "_Outcome") -> "_Outcome":
        return _Outcome(
            self.accepted + other.accepted,
            self.rejected + other.rejected,
            # The later answer counts the totals of both.
            {**self.unmatched, **other.unmatched},
        )


class SyncWorker:
    def __init__(
        self,
        engine: Engine,
        erp: ErpClient,
        settings: SyncSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        complaints: ComplaintForwarder | None = None,
    ) -> None:
        self.engine = engine
        self.erp = erp
        self.settings = settings or SyncSettings()
        self.clock = clock
        # Complaints from other systems go to the same ERP in the same
        # passes: an outage holds back both, and both flow in after it.
        self.complaints = complaints

    # --- one pass ----------------------------------------------------------

    def run_once(self) -> SyncReport:
        """Send every key that can be claimed now; raise :class:`ErpError`
        (after recording it) when the ERP cannot be reached.

        Batches overlap: while the ERP stores one batch (a thread waits for
        its answer), this thread claims and sums the next one. The database
        is only used from this thread, and one batch at most is in flight.
        """
        report = SyncReport()
        with ThreadPoolExecutor(1, thread_name_prefix="sync-send") as sender:
            batch = self._prepare()
            while batch is not None:
                sending = sender.submit(self._send, batch.totals)
                try:
                    following = self._prepare()
                except BaseException:
                    self._complete(batch, sending.result, report)
                    raise
                self._complete(batch, sending.result, report, following)
                batch = following
        if self.complaints is not None:
            try:
                report.complaints = self.complaints.run_once()
            except ErpError as error:
                self.record_error(str(error))
                raise
        return report

    def _prepare(self) -> "_Batch | None":
        claimed_at = self.clock()
        token = self._claim(claimed_at)
        if token is None:
            return None
        return _Batch(token, claimed_at, self._totals(token))

    def _complete(
        self,
        batch: "_Batch",
        result: Callable[[], _Outcome],
        report: SyncReport,
        following: "_Batch | None" = None,
    ) -> None:
        """Wait for the ERP's answer to ``batch`` and confirm what it took;
        when the ERP is unreachable, give back ``batch`` and the already
        claimed ``following`` one, record the error and raise it."""
        try:
            outcome = result()
        except ErpError as error:
            self._release(batch.token, claimed_at=None)
            if following is not None:
                self._release(following.token, claimed_at=None)
            self.record_error(str(error))
            raise
        self._confirm(batch.token, batch.claimed_at, outcome)
        report.batches += 1
        report.rows_sent += len(outcome.accepted)
        report.keys_done += len(outcome.accepted)
        report.keys_rejected += len(outcome.rejected)
        report.rejected.extend(
            {**total.row, "error": message} for total, message in outcome.rejected
        )

    def _claim(self, now: datetime) -> str | None:
        token = secrets.token_hex(16)
        candidates = (
            select(pending.c.id)
            .where(
                or_(pending.c.claimed_until.is_(None), pending.c.claimed_until < now),
                or_(pending.c.retry_after.is_(None), pending.c.retry_after <= now),
            )
            .order_by(pending.c.first_marked_at, pending.c.id)
            .limit(self.settings.batch_size)
            # Ignored by SQLite, whose writers are serialised anyway.
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(pending)
                .where(pending.c.id.in_(candidates.scalar_subquery()))
                .values(
                    claim_token=token,
                    claimed_until=now + timedelta(seconds=self.settings.lease_seconds),
                )
            ).rowcount
        return token if claimed else None

    def _totals(self, token: str) -> list[_Total]:
        """The absolute totals of the claimed keys, read in one statement so
        that each key's version matches the lines summed."""
        join = pending.outerjoin(
            lines,
            and_(
                lines.c.source == pending.c.source,
                lines.c.customer == pending.c.customer,
                lines.c.month == pending.c.month,
                lines.c.currency == pending.c.currency,
                lines.c.status == "confirmed",
            ),
        )
        key = [
            pending.c.id,
            pending.c.version,
            pending.c.source,
            pending.c.customer,
            pending.c.month,
            pending.c.currency,
        ]
        query = (
            select(
                *key,
                func.coalesce(func.sum(lines.c.amount), 0),
                func.coalesce(func.sum(lines.c.cost), 0),
                func.coalesce(func.sum(lines.c.quantity), 0),
                func.count(lines.c.id),
                func.max(lines.c.date),
            )
            .select_from(join)
            .where(pending.c.claim_token == token)
            .group_by(*key)
            .order_by(pending.c.id)
        )
        with self.engine.connect() as connection:
            result = connection.execute(query).all()
        totals = []
        for key_id, version, source, customer, month, currency, *sums in result:
            amount, cost, quantity, count, last_date = sums
            totals.append(
                _Total(
                    key_id,
                    version,
                    {
                        "source": source,
                        "customer": customer,
                        "month": month,
                        "currency": currency,
                        "revenue": format_scaled(int(amount), AMOUNT_DIGITS),
                        "cost": format_scaled(int(cost), AMOUNT_DIGITS),
                        "quantity": format_scaled(int(quantity), QUANTITY_DIGITS),
                        "line_count": int(count),
                        "last_sale_date": last_date.isoformat() if last_date else None,
                    },
                )
            )
        return totals

    def _send(self, totals: list[_Total]) -> _Outcome:
        """Upsert totals; when the ERP refuses some rows, send the others
        without them."""
        if not totals:
            return _Outcome()
        try:
            result = self.erp.upsert_summaries([t.row for t in totals])
        except ErpError as error:
            if not error.rejected_rows:
                raise
            return self._send_without_refused(totals, error)
        return _Outcome(
            accepted=totals,
            unmatched={(u.source, u.customer): u.summaries for u in result.unmatched},
        )

    def _send_without_refused(self, totals: list[_Total], error: ErpError) -> _Outcome:
        """Set aside the rows the ERP refused with ``error`` and send the
        others again."""
        messages: dict[int, list[str]] = {}
        for row_error in error.row_errors:
            index = row_error.get("index")
            if isinstance(index, int) and 0 <= index < len(totals):
                messages.setdefault(index, []).append(
                    f"{row_error.get('field')}: {row_error.get('message')}"
                )
        if messages:
            refused = _Outcome(
                rejected=[(totals[i], "; ".join(m)) for i, m in messages.items()]
            )
            others = [t for i, t in enumerate(totals) if i not in messages]
            return refused.merge(self._send(others))
        if len(totals) == 1:
            return _Outcome(rejected=[(totals[0], str(error))])
        # The ERP named no row: halve the batch until the bad rows are alone.
        middle = len(totals) // 2
        return self._send(totals[:middle]).merge(self._send(totals[middle:]))

    def _confirm(self, token: str, claimed_at: datetime, outcome: _Outcome) -> None:
        now = self.clock()
        with self.engine.begin() as connection:
            if outcome.accepted:
                execute_many(
                    connection,
                    DELETE_CONFIRMED,
                    [
                        {"key_id": t.key_id, "key_version": t.version}
                        for t in outcome.accepted
                    ],
                )
            if outcome.rejected:
                self._postpone(connection, outcome.rejected, now)
            self._record_unmatched(connection, outcome, now)
            # What is still claimed changed while the ERP worked: it is due
            # again, and what came before the claim has been sent.
            self._release(token, claimed_at, connection)
            self._update_state(connection, self._outcome_state(outcome, now))

    def _postpone(
        self, connection: Any, rejected: list[tuple[_Total, str]], now: datetime
    ) -> None:
        retry_after = now + timedelta(seconds=self.settings.rejected_retry_seconds)
        execute_many(
            connection,
            POSTPONE_REJECTED,
            [
                {
                    "key_id": t.key_id,
                    "key_version": t.version,
                    "retry_after": retry_after,
                    "message": message[:ERROR_LENGTH],
                }
                for t, message in rejected
            ],
        )

    @staticmethod
    def _record_unmatched(connection: Any, outcome: _Outcome, now: datetime) -> None:
        """Mirror the ERP's answer about the customers of the accepted
        totals: those it named wait for a party, the others have one."""
        if outcome.unmatched:
            execute_many(
                connection,
                _upsert_unmatched_statement(connection),
                [
                    {
                        "source": source,
                        "customer": customer,
                        "summaries": summaries,
                        "seen_at": now,
                    }
                    for (source, customer), summaries in sorted(
                        outcome.unmatched.items()
                    )
                ],
            )
        matched = {
            (t.row["source"], t.row["customer"]) for t in outcome.accepted
        } - outcome.unmatched.keys()
        if not matched:
            return
        listed = connection.execute(
            select(unmatched.c.source, unmatched.c.customer).where(
                unmatched.c.source.in_(sorted({source for source, _ in matched}))
            )
        )
        execute_many(
            connection,
            DELETE_MATCHED,
            [
                {"key_source": source, "key_customer": customer}
                for source, customer in listed
                if (source, customer) in matched
            ],
        )

    @staticmethod
    def _outcome_state(outcome: _Outcome, now: datetime) -> dict[str, Any]:
        """The sync state's new values after the ERP answered."""
        values: dict[str, Any] = {
            "last_success_at": now,
            "rows_sent": state.c.rows_sent + len(outcome.accepted),
        }
        if outcome.rejected:
            first, message = outcome.rejected[0]
            values.update(
                last_error_at=now,
                last_error=(
                    f"ERP refused {len(outcome.rejected)} rows, e.g. "
                    f"{first.row['source']}/{first.row['customer']} "
                    f"{first.row['month']}: {message}"
                )[:ERROR_LENGTH],
            )
        return values

    def _release(
        self, token: str, claimed_at: datetime | None, connection: Any = None
    ) -> None:
        values: dict[str, Any] = {"claim_token": None, "claimed_until": None}
        if claimed_at is not None:
            values["first_marked_at"] = claimed_at
        statement = update(pending).where(pending.c.claim_token == token).values(values)
        if connection is not None:
            connection.execute(statement)
            return
        with self.engine.begin() as connection:
            connection.execute(statement)

    # --- state -------------------------------------------------------------

    def record_error(self, message: str) -> None:
        logger.warning("Sync: %s", message)
        with self.engine.begin() as connection:
            self._update_state(
                connection,
                {"last_error_at": self.clock(), "last_error": message[:ERROR_LENGTH]},
            )

    @staticmethod
    def _update_state(connection: Any, values: dict[str, Any]) -> None:
        # The single row exists from the first call on.
        insert = dialect_insert(connection)(state).values(id=STATE_ID, rows_sent=0)
        connection.execute(insert.on_conflict_do_nothing(index_elements=[state.c.id]))
        connection.execute(update(state).where(state.c.id == STATE_ID).values(values))

    # --- long run ------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Sync until ``stop`` is set, backing off while the ERP is down."""
        stop = stop or threading.Event()
        delay = self.settings.backoff_seconds
        while not stop.is_set():
            try:
                report = self.run_once()
            except (ErpError, SQLAlchemyError) as error:
                if isinstance(error, SQLAlchemyError):
                    logger.warning("Sync: database error: %s", error)
                stop.wait(delay)
                delay = min(delay * 2, self.settings.max_backoff_seconds)
                continue
            delay = self.settings.backoff_seconds
            if not report.busy:
                stop.wait(self.settings.poll_seconds)


@cache
def _upsert_unmatched_for(insert: Any) -> Any:
    insert = insert(unmatched)
    return insert.on_conflict_do_update(
        index_elements=[unmatched.c.source, unmatched.c.customer],
        set_={
            "summaries": insert.excluded.summaries,
            "seen_at": insert.excluded.seen_at,
        },
    )


def _upsert_unmatched_statement(connection: Any) -> Any:
    # One construct per backend: execute_many caches its compiled form.
    return _upsert_unmatched_for(dialect_insert(connection))


@dataclass
class SyncStatus:
    pending_keys: int
    rejected_keys: int
    oldest_pending_age_s: float | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    rows_sent: int
    unmatched_customers: list[dict[str, Any]]
    complaints_pending: int = 0
    unmatched_complaints: list[dict[str, Any]] = field(default_factory=list)


def sync_status(engine: Engine, now: datetime | None = None) -> SyncStatus:
    now = now or utcnow()
    with engine.connect() as connection:
        count, oldest, rejected = connection.execute(
            select(
                func.count(pending.c.id),
                func.min(pending.c.first_marked_at),
                func.count(pending.c.retry_after),
            )
        ).one()
        row = connection.execute(select(state).where(state.c.id == STATE_ID)).first()
        waiting = [
            dict(r._mapping)
            for r in connection.execute(
                select(unmatched).order_by(unmatched.c.source, unmatched.c.customer)
            )
        ]
        complaints_pending, unmatched_complaints = complaints_status(connection)
    return SyncStatus(
        pending_keys=count,
        rejected_keys=rejected,
        oldest_pending_age_s=(
            round((now - oldest).total_seconds(), 3) if oldest is not None else None
        ),
        last_success_at=row.last_success_at if row else None,
        last_error_at=row.last_error_at if row else None,
        last_error=row.last_error if row else None,
        rows_sent=row.rows_sent if row else 0,
        unmatched_customers=waiting,
        complaints_pending=complaints_pending,
        unmatched_complaints=unmatched_complaints,
    )
