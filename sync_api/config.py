"""Settings of the API, read from the environment (DESIGN.md section 2).

Every default works on one machine without any variable set; secrets such as
the ERP key have no default worth keeping in the repository.
"""

import os
from pathlib import Path
from typing import Any, ClassVar

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_PATH = REPOSITORY_ROOT / "migrations"
DEFAULT_DATABASE_PATH = REPOSITORY_ROOT / "var" / "sync_api.sqlite"


def default_database_uri() -> str:
    # SQLite creates the database file on first use but not its folder.
    DEFAULT_DATABASE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATABASE_PATH}"


class Config:
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


class TestConfig:
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
