"""Complaints from other systems: kept once, forwarded to the ERP.

:func:`store_complaint` keeps a validated complaint once per (source,
external id): the same content again changes nothing, other content is a
:class:`ComplaintConflict`. :class:`ComplaintForwarder` (run by the sync
worker) sends each complaint still to forward to the ERP, which creates it
once (it keeps the source and external id too, so a forward retried after
a lost answer finds the complaint instead of making a second one). While
the ERP is down the complaints wait; one whose customer matches no party
yet waits and is listed until the party exists; one the ERP refuses waits
and is tried again later.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from sync_api.complaint_spec import (
    CONTENT_FIELDS,
    FORWARDED,
    PENDING,
    REFUSED,
    UNMATCHED,
)
from sync_api.erp import ErpComplaintsClient, ErpError, ErpRefused
from sync_api.models import ComplaintIntake
from sync_api.services.clock import utcnow

logger = logging.getLogger(__name__)

complaints = ComplaintIntake.__table__
ERROR_LENGTH = 1000


class ComplaintConflict(Exception):
    """The source already sent this external id with other content."""

    def __init__(self, stored: Any, fields_: list[str]) -> None:
        super().__init__(f"{stored.source}/{stored.external_id} differs")
        self.stored = stored
        self.fields = fields_


def _differences(complaint: dict[str, Any], stored: Any) -> list[str]:
    return [name for name in CONTENT_FIELDS if complaint[name] != getattr(stored, name)]


def _find(connection: Connection, source: str, external_id: str) -> Any:
    return connection.execute(
        select(complaints).where(
            complaints.c.source == source, complaints.c.external_id == external_id
        )
    ).first()


def store_complaint(engine: Engine, complaint: dict[str, Any]) -> tuple[Any, bool]:
    """Keep a validated complaint; return its row and whether it is new.

    Raise :class:`ComplaintConflict`, storing nothing, when the source sent
    the external id before with other content.
    """
    source, external_id = complaint["source"], complaint["external_id"]
    for attempt in range(2):
        try:
            with engine.begin() as connection:
                stored = _find(connection, source, external_id)
                if stored is not None:
                    differences = _differences(complaint, stored)
                    if differences:
                        raise ComplaintConflict(stored, differences)
                    return stored, False
                connection.execute(
                    complaints.insert().values(
                        **complaint, submitted_at=utcnow(), status=PENDING, attempts=0
                    )
                )
                return _find(connection, source, external_id), True
        except IntegrityError:
            # A concurrent request of the same complaint stored it first:
            # the next attempt compares with that one.
            if attempt:
                raise
    raise AssertionError("unreachable")


def find_complaint(engine: Engine, source: str, external_id: str) -> Any:
    with engine.connect() as connection:
        return _find(connection, source, external_id)


def refresh_complaint(engine: Engine, erp: ErpComplaintsClient, row: Any) -> Any:
    """The row with the ERP's current number, state and outcome when it
    has the complaint and answers; else the row as last known."""
    if row.status != FORWARDED:
        return row
    try:
        answer = erp.status(row.source, row.external_id)
    except ErpError as error:
        logger.info("Complaint status of %s/%s: %s", row.source, row.external_id, error)
        return row
    with engine.begin() as connection:
        connection.execute(
            update(complaints)
            .where(complaints.c.id == row.id)
            .values(**_answer_values(answer), checked_at=utcnow())
        )
        return connection.execute(
            select(complaints).where(complaints.c.id == row.id)
        ).one()


def _answer_values(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": answer.get("number"),
        "erp_state": answer.get("state"),
        "outcome": answer.get("outcome"),
    }


def _payload(row: Any) -> dict[str, Any]:
    """The complaint as the ERP's intake route takes it."""
    return {
        "source": row.source,
        "external_id": row.external_id,
        "customer": row.customer,
        "received_at": row.received_at.isoformat(),
        "category": row.category,
        "severity": row.severity,
        "description": row.description,
        "contact": row.contact,
    }


@dataclass(frozen=True)
class ForwardSettings:
    batch_size: int = 100
    lease_seconds: float = 120.0
    # A complaint whose customer matches no party, or that the ERP refused,
    # is tried again after this long.
    retry_seconds: float = 60.0

    @classmethod
    def from_config(cls, config: Any) -> "ForwardSettings":
        return cls(
            lease_seconds=config["SYNC_LEASE_SECONDS"],
            retry_seconds=config["COMPLAINTS_RETRY_SECONDS"],
        )


@dataclass
class ForwardReport:
    created: int = 0
    existing: int = 0
    unmatched: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def forwarded(self) -> int:
        return self.created + self.existing


class ComplaintForwarder:
    """Sends the complaints still to forward, one ERP call (and one ERP
    transaction) each."""

    def __init__(
        self,
        engine: Engine,
        erp: ErpComplaintsClient,
        settings: ForwardSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.erp = erp
        self.settings = settings or ForwardSettings()
        self.clock = clock

    def run_once(self) -> ForwardReport:
        """Forward every complaint due now; raise :class:`ErpError` when
        the ERP cannot be reached (the complaints it did not take wait)."""
        report = ForwardReport()
        # A complaint tried in this pass waits at least until the next one,
        # however short its retry time.
        started = self.clock()
        while True:
            token, rows = self._claim(started)
            if not rows:
                return report
            try:
                for row in rows:
                    self._forward(row, token, report)
            finally:
                self._release(token)

    def _claim(self, started: datetime) -> tuple[str, list[Any]]:
        now = self.clock()
        token = secrets.token_hex(16)
        due = (
            select(complaints.c.id)
            .where(
                complaints.c.status != FORWARDED,
                or_(
                    complaints.c.claimed_until.is_(None),
                    complaints.c.claimed_until < now,
                ),
                or_(
                    complaints.c.retry_after.is_(None),
                    complaints.c.retry_after < started,
                ),
            )
            .order_by(complaints.c.id)
            .limit(self.settings.batch_size)
        )
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            connection.execute(
                update(complaints)
                .where(complaints.c.id.in_(due.scalar_subquery()))
                .values(
                    claim_token=token,
                    claimed_until=now + timedelta(seconds=self.settings.lease_seconds),
                )
            )
            rows = list(
                connection.execute(
                    select(complaints)
                    .where(complaints.c.claim_token == token)
                    .order_by(complaints.c.id)
                )
            )
        return token, rows

    def _forward(self, row: Any, token: str, report: ForwardReport) -> None:
        try:
            answer = self.erp.intake(_payload(row))
        except ErpRefused as error:
            # The ERP answered with its own error about this complaint (422:
            # a value it cannot take; 400: a rule or an access right of the
            # key's user): it waits, and the other complaints go through.
            report.refused.append(
                {
                    "source": row.source,
                    "external_id": row.external_id,
                    "error": str(error),
                }
            )
            self._wait(
                row, REFUSED, f"{error.field}: {error}" if error.field else str(error)
            )
            return
        status = answer.get("status")
        now = self.clock()
        if status == "unmatched":
            report.unmatched += 1
            self._wait(row, UNMATCHED, f"No party matches customer {row.customer}.")
            return
        if status == "created":
            report.created += 1
        else:
            report.existing += 1
        self._update(
            row,
            status=FORWARDED,
            forwarded_at=now,
            checked_at=now,
            retry_after=None,
            last_error=None,
            **_answer_values(answer),
        )

    def _wait(self, row: Any, status: str, message: str) -> None:
        self._update(
            row,
            status=status,
            retry_after=self.clock() + timedelta(seconds=self.settings.retry_seconds),
            attempts=complaints.c.attempts + 1,
            last_error=message[:ERROR_LENGTH],
        )

    def _update(self, row: Any, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(complaints).where(complaints.c.id == row.id).values(values)
            )

    def _release(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(complaints)
                .where(complaints.c.claim_token == token)
                .values(claim_token=None, claimed_until=None)
            )


def complaints_status(connection: Connection) -> tuple[int, list[dict[str, Any]]]:
    """The count of complaints not yet in the ERP, and those whose customer
    matches no party yet."""
    count = connection.execute(
        select(func.count(complaints.c.id)).where(complaints.c.status != FORWARDED)
    ).scalar_one()
    waiting = [
        dict(r._mapping)
        for r in connection.execute(
            select(
                complaints.c.source,
                complaints.c.external_id,
                complaints.c.customer,
                complaints.c.received_at,
            )
            .where(complaints.c.status == UNMATCHED)
            .order_by(complaints.c.source, complaints.c.external_id)
        )
    ]
    return count, waiting
