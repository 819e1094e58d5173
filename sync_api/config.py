"""Settings of the API, read from the ``CRM_*`` environment variables.

Every default works on one machine without any variable set; secrets such as
the ERP key have no default worth keeping in the repository.
"""

import os
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from sync_api.currencies import ISO_4217_CODES

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_PATH = REPOSITORY_ROOT / "migrations"
DEFAULT_DATABASE_PATH = REPOSITORY_ROOT / "var" / "sync_api.sqlite"


def default_database_uri() -> str:
    # SQLite creates the database file on first use but not its folder.
    DEFAULT_DATABASE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATABASE_PATH}"


class Defaults:
    """Settings shared by real runs and tests; each can be overridden."""

    # A batch of lines is one request: its size bounds the time one push
    # holds the ledger's write lock.
    SALES_MAX_LINES = 5000
    # 5,000 lines of a few hundred bytes each, with room for long names.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    SALES_EARLIEST_DATE = date(2000, 1, 1)
    # An order may be dated a few days ahead (delivery date); further ahead
    # is a sender's mistake.
    SALES_MAX_FUTURE_DAYS = 7
    # The currencies a line may carry: ISO 4217 by default, or the set the
    # ERP knows (CRM_API_CURRENCIES="CNY,USD").
    SALES_CURRENCIES: ClassVar[frozenset[str]] = ISO_4217_CODES
    SALES_PAGE_SIZE = 100
    SALES_MAX_PAGE_SIZE = 1000

    # Summary rows per call of the ERP route; one transaction there each.
    # Each call costs the ERP tens of milliseconds before the first row
    # (transaction, user preferences): 2500 rows sync ~1.4x faster than 1000.
    SYNC_BATCH_SIZE = 2500
    # A claimed key that its worker did not finish within the lease (the
    # worker died) is claimed again by the next worker.
    SYNC_LEASE_SECONDS = 120.0
    SYNC_POLL_SECONDS = 0.5
    SYNC_BACKOFF_SECONDS = 0.5
    SYNC_MAX_BACKOFF_SECONDS = 30.0
    # How long rows the ERP refused wait before they are tried again.
    SYNC_REJECTED_RETRY_SECONDS = 60.0
    # How long a complaint whose customer matches no party yet, or that the
    # ERP refused, waits before it is forwarded again.
    COMPLAINTS_RETRY_SECONDS = 60.0
    ERP_TIMEOUT_SECONDS = 30.0
    # Rows per ERP call when a CSV or XLSX report gathers a long list
    # (10,000 at most, the ERP's limit): fewer calls, each in its own
    # ERP transaction.
    REPORTS_PAGE_SIZE = 5000


def _float_from_environment(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class Config(Defaults):
    """Settings of a real run.

    The environment is read when the object is made, not when this module is
    imported, so a process that sets a variable before calling ``create_app``
    is obeyed.
    """

    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {
        # Connections of a pool can die while idle (a PostgreSQL restart);
        # check them out only after a cheap liveness test.
        "pool_pre_ping": True,
    }

    def __init__(self) -> None:
        self.SQLALCHEMY_DATABASE_URI = (
            os.environ.get("CRM_API_DATABASE_URI") or default_database_uri()
        )
        self.ERP_URL = os.environ.get("CRM_ERP_URL", "http://127.0.0.1:8000")
        self.ERP_DATABASE = os.environ.get("CRM_ERP_DATABASE", "crm")
        self.ERP_KEY = os.environ.get("CRM_ERP_KEY", "")
        # A key of the ERP's crm_reports application, whose user (a finance
        # user) reads the figures under the ERP's access rules.
        self.ERP_REPORTS_KEY = os.environ.get("CRM_ERP_REPORTS_KEY", "")
        currencies = os.environ.get("CRM_API_CURRENCIES")
        if currencies:
            self.SALES_CURRENCIES = frozenset(
                code.strip().upper() for code in currencies.split(",") if code.strip()
            )
        self.SYNC_BATCH_SIZE = int(
            _float_from_environment("CRM_SYNC_BATCH_SIZE", self.SYNC_BATCH_SIZE)
        )
        self.REPORTS_PAGE_SIZE = int(
            _float_from_environment("CRM_REPORTS_PAGE_SIZE", self.REPORTS_PAGE_SIZE)
        )
        self.SYNC_LEASE_SECONDS = _float_from_environment(
            "CRM_SYNC_LEASE_SECONDS", self.SYNC_LEASE_SECONDS
        )
        self.SYNC_POLL_SECONDS = _float_from_environment(
            "CRM_SYNC_POLL_SECONDS", self.SYNC_POLL_SECONDS
        )


class TestConfig(Defaults):
    """Settings of the test suite.

    Nothing is read from the environment, so a developer's shell (pointing at
    a real ERP or database) never leaks into a test.
    """

    # Its name starts with "Test": keep pytest from collecting it.
    __test__ = False

    TESTING = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # ".invalid" never resolves (RFC 2606): a test that forgets to fake the
    # ERP fails at once instead of reaching a real server.
    ERP_URL = "http://erp.invalid"
    ERP_DATABASE = "crm_test"
    ERP_KEY = "test-erp-key"
    ERP_REPORTS_KEY = "test-erp-reports-key"
