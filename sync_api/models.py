"""Tables of the API's own database.

Each model subclasses ``db.Model`` with typed ``Mapped[...]`` columns.
``create_app`` imports this module so that ``db.metadata`` lists every table
before Flask-Migrate compares it with the database; after a change, run
``flask --app sync_api db migrate -m "..."`` and review the new file in
``migrations/versions/``.

Money and quantities are stored as integers of hundredths (amounts) and
ten-thousandths (quantities), the precision the ERP keeps
(``sync_api.line_spec``): sums are then exact on every backend, SQLite
included, which has no decimal type.
"""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync_api.complaint_spec import COMPLAINT_CHOICE_LENGTH, CONTACT_LENGTH
from sync_api.extensions import db
from sync_api.line_spec import (
    CURRENCY_LENGTH,
    CUSTOMER_LENGTH,
    EXTERNAL_ID_LENGTH,
    LABEL_LENGTH,
    SOURCE_LENGTH,
    STATUS_LENGTH,
)


class ApiKey(db.Model):
    """A bearer key of an outside system or a person.

    Only the SHA-256 of the secret is kept; the short public ``prefix`` is in
    the key itself and finds the row without scanning every hash.
    """

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    # Space-separated, e.g. "sales:write sales:read".
    scopes: Mapped[str] = mapped_column(String(200))
    # A key bound to a source may push and read that source's lines only.
    source: Mapped[str | None] = mapped_column(String(SOURCE_LENGTH))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class SalesSource(db.Model):
    """One row per sending system.

    A push starts by writing its source's row: that serialises the pushes of
    one source (a row lock on PostgreSQL, the write lock on SQLite), so two
    overlapping batches never both decide that a line is new.
    """

    __tablename__ = "sales_source"

    name: Mapped[str] = mapped_column(String(SOURCE_LENGTH), primary_key=True)
    last_push_at: Mapped[datetime]


class SalesLineColumns:
    """The columns of a sales line, current or replaced revision."""

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    revision: Mapped[int]
    customer: Mapped[str] = mapped_column(String(CUSTOMER_LENGTH))
    date: Mapped[date]
    # "YYYY-MM" of date: the month of the ERP summary the line counts in.
    month: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(CURRENCY_LENGTH))
    product: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    category: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    # "confirmed" or "cancelled"; a cancelled line stops counting.
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    received_at: Mapped[datetime]


class SalesLine(SalesLineColumns, db.Model):
    """The current revision of every line ever pushed, once per
    (source, external id)."""

    __tablename__ = "sales_line"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # The sync worker sums the lines of one (month, customer, source,
        # currency) key. The index leads with the month because lines
        # arrive roughly in date order: a batch's entries then land on the
        # few pages of its months, while an index led by the customer took
        # a page write per customer of every batch (a batch spans hundreds
        # of customers), which was most of a push's cost. GET /sales
        # narrows a date range by month through it.
        Index(
            "ix_sales_line_month_customer", "month", "customer", "source", "currency"
        ),
    )


class SalesLineRevision(SalesLineColumns, db.Model):
    """A revision of a line that a newer one replaced, kept as it was."""

    __tablename__ = "sales_line_revision"
    __table_args__ = (UniqueConstraint("source", "external_id", "revision"),)

    replaced_at: Mapped[datetime]


class SyncPending(db.Model):
    """A (source, customer, month, currency) key whose ERP total is out of
    date.

    Marked in the transaction that changes its lines; deleted only after
    the ERP confirmed the total and only if ``version`` is still the one
    the worker read (a push in between bumps it, and the key stays).
    """

    __tablename__ = "sync_pending"
    # Month first, as the lines' index: a push marks keys of a few months
    # and many customers, and finds them on a few pages.
    __table_args__ = (UniqueConstraint("month", "customer", "source", "currency"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    customer: Mapped[str] = mapped_column(String(CUSTOMER_LENGTH))
    month: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(CURRENCY_LENGTH))
    version: Mapped[int]
    # The oldest change the ERP has not seen yet: the sync lag starts here.
    first_marked_at: Mapped[datetime] = mapped_column(index=True)
    # The last change that had to bump the version (a push while a worker
    # held the key or while it waited for a retry); informational.
    marked_at: Mapped[datetime]
    # A worker's lease: other workers leave the key alone until it ends.
    claim_token: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_until: Mapped[datetime | None]
    # The ERP refused the key's total: when to try again, and why.
    retry_after: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))


class SyncState(db.Model):
    """The outcome of the worker's last calls to the ERP (a single row)."""

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    rows_sent: Mapped[int] = mapped_column(BigInteger, default=0)


class UnmatchedCustomer(db.Model):
    """A customer reference that matches no party in the ERP yet.

    The ERP keeps its totals and attaches them when the party appears; this
    list mirrors the ERP's so that a sender sees it without an ERP login.
    """

    __tablename__ = "unmatched_customer"

    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH), primary_key=True)
    customer: Mapped[str] = mapped_column(String(CUSTOMER_LENGTH), primary_key=True)
    summaries: Mapped[int] = mapped_column(default=0)
    seen_at: Mapped[datetime]


class ComplaintIntake(db.Model):
    """A complaint another system sent, kept once per (source, external id)
    and forwarded to the ERP by the sync worker.

    ``status`` is where the forward stands: ``pending`` (not yet taken by
    the ERP), ``unmatched`` (no party matches the customer yet: tried again
    later), ``refused`` (the ERP refused it: tried again later) or
    ``forwarded`` (the ERP created it; ``number``, ``erp_state`` and
    ``outcome`` are its last known answer).
    """

    __tablename__ = "complaint_intake"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # The worker's claim reads the complaints still to forward.
        Index("ix_complaint_intake_status_retry", "status", "retry_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LENGTH))
    external_id: Mapped[str] = mapped_column(String(EXTERNAL_ID_LENGTH))
    customer: Mapped[str] = mapped_column(String(CUSTOMER_LENGTH))
    # Naive UTC, to the second, as the ERP stores it.
    received_at: Mapped[datetime]
    category: Mapped[str] = mapped_column(String(COMPLAINT_CHOICE_LENGTH))
    # None: the ERP's default severity.
    severity: Mapped[str | None] = mapped_column(String(COMPLAINT_CHOICE_LENGTH))
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(CONTACT_LENGTH))
    submitted_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None]
    retry_after: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    forwarded_at: Mapped[datetime | None]
    number: Mapped[str | None] = mapped_column(String(64))
    erp_state: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[dict | None] = mapped_column(JSON)
    checked_at: Mapped[datetime | None]
