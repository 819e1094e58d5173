"""A real Tryton ERP with crm_module, on loopback, for the sync tests.

Built the way .ci/demo.sh builds the demo: trytond-admin on a new SQLite
file, crm_module activated, the demo company and customers loaded with
``fixtures.load_demo --phase base``, a ``crm_sync`` application key made
with ``--phase erp-key`` and ``crm_reports`` keys (a finance user's and a
plain user's) made with ``--phase reports-key --with-plain-user``.
Everything runs in subprocesses: the test process never imports trytond.

With ``CRM_ERP_TEST_POSTGRESQL_URI`` set (``make test-api-postgresql``) the
ERP runs on that PostgreSQL instead, each server on a database of its own
named ``erp_<random>``.
"""

import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import requests

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATABASE = "erp"
# Ports of this suite: away from the demo's 8000/5000.
PORTS = range(18000, 19000)


def free_port() -> int:
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("No free port in 18000-18999.")


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s.")


class ErpServer:
    """trytond on a database of its own in directory; web_root serves the
    sao web client too (the browser tests)."""

    password = "admin-password-of-the-tests"

    def __init__(
        self,
        directory: Path,
        database: str = DATABASE,
        web_root: str | None = None,
        code_root: Path = REPOSITORY_ROOT,
        email_uri: str | None = None,
        modules: tuple[str, ...] = (),
    ) -> None:
        self.directory = directory
        # Where trytond sends its e-mails ([email] uri): an SMTP server of
        # the test on loopback; None keeps trytond's default.
        self.email_uri = email_uri
        # Modules activated besides crm_module (its optional dependencies).
        self.modules = modules
        # The tree whose crm_module and fixtures run: another release's for
        # the upgrade test (it comes first on the path).
        self.code_root = code_root
        self.postgresql_uri = os.environ.get("CRM_ERP_TEST_POSTGRESQL_URI")
        if self.postgresql_uri:
            # Several servers of one run share the cluster.
            database = f"{database}_{uuid.uuid4().hex[:10]}"
        self.database = database
        self.web_root = web_root
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.key = ""
        # crm_reports keys: of the user "finance" (group CRM Finance) and of
        # the user "plain" (no CRM group, whom the ERP refuses the figures).
        self.reports_key = ""
        self.plain_reports_key = ""
        self.log = directory / "trytond.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.directory / f"{self.database}.sqlite"

    def environment(self) -> dict[str, str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("TRYTOND")
        }
        password = self.directory / "admin-password"
        password.write_text(self.password + "\n")
        if self.postgresql_uri:
            environment["TRYTOND_DATABASE__URI"] = self.postgresql_uri
        else:
            environment.update(
                TRYTOND_DATABASE__URI="sqlite://",
                TRYTOND_DATABASE__PATH=str(self.directory),
            )
        environment.update(
            TRYTOND_WEB__LISTEN=f"127.0.0.1:{self.port}",
            TRYTONPASSFILE=str(password),
            CRM_DEMO_PASSWORD=self.password,
            PYTHONPATH=str(self.code_root),
        )
        if self.web_root:
            environment["TRYTOND_WEB__ROOT"] = self.web_root
        if self.email_uri:
            environment.update(
                TRYTOND_EMAIL__URI=self.email_uri,
                TRYTOND_EMAIL__FROM="crm@example.com",
            )
        if self.postgresql_uri:
            # The file store (e-mails received by inbound_email) stays in
            # the test's folder.
            environment["TRYTOND_DATABASE__PATH"] = str(self.directory)
        return environment

    def run(self, *command: str) -> str:
        result = subprocess.run(
            command,
            cwd=self.code_root,
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def create(self, *languages: str) -> None:
        "A new database with crm_module activated and languages loaded"
        if self.postgresql_uri:
            # trytond-admin needs the database to exist on PostgreSQL.
            with self._postgresql("postgres") as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
                connection.execute(f'CREATE DATABASE "{self.database}"')
        else:
            self.database_path.write_bytes(b"")
        admin = [str(BIN / "trytond-admin"), "-d", self.database]
        self.run(*admin, "--all", "--email", "admin@example.com")
        self.run(*admin, "-u", "crm_module", *self.modules, "--activate-dependencies")
        for language in languages:
            self.run(*admin, "--all", "-l", language)

    def build(self) -> None:
        "The demo company and customers, and a crm_sync key in self.key"
        self.create()
        python = sys.executable
        self.run(python, "-m", "fixtures.load_demo", self.database, "--phase", "base")
        output = self.run(
            python, "-m", "fixtures.load_demo", self.database, "--phase", "erp-key"
        )
        self.key = output.strip().splitlines()[-1]
        self.make_reports_keys()

    def make_reports_keys(self) -> None:
        "The finance and plain users' crm_reports keys"
        output = self.run(
            sys.executable,
            "-m",
            "fixtures.load_demo",
            self.database,
            "--phase",
            "reports-key",
            "--with-plain-user",
        )
        self.reports_key, self.plain_reports_key = output.strip().splitlines()[-2:]

    def build_golden(self) -> None:
        "The hand-made data set of the report tests, and the reports keys"
        self.create()
        self.run(sys.executable, "-m", "fixtures.golden_reports", self.database)
        self.make_reports_keys()

    def build_demo(self) -> None:
        "The whole demo, as make demo builds it, with Chinese loaded"
        self.create("zh_CN")
        self.run(sys.executable, "-m", "fixtures.load_demo", self.database)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "trytond"), "-d", self.database],
                cwd=self.code_root,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(self.url + "/")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def _postgresql(self, database: str):
        import psycopg

        return psycopg.connect(
            f"{self.postgresql_uri.rstrip('/')}/{database}", autocommit=True
        )

    def drop(self) -> None:
        "Remove a PostgreSQL database (a SQLite file goes with its folder)"
        self.stop()
        if self.postgresql_uri:
            with self._postgresql("postgres") as connection:
                connection.execute(
                    f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
                )

    def summaries(self, source: str) -> dict[tuple[str, str, str], dict]:
        """The ERP's stored totals of a source, read from its database,
        keyed by (customer, "YYYY-MM", currency)."""
        query = (
            "SELECT s.customer_ref, s.month, c.code, CAST(s.revenue AS TEXT), "
            "CAST(s.cost AS TEXT), CAST(s.quantity AS TEXT), s.line_count, "
            "s.last_sale_date, s.party "
            "FROM crm_sales_summary s JOIN currency_currency c "
            "ON c.id = s.currency WHERE s.source = {}"
        )
        if self.postgresql_uri:
            with self._postgresql(self.database) as connection:
                rows = connection.execute(query.format("%s"), (source,)).fetchall()
            # Dates come back as dates; the SQLite path gives ISO strings.
            rows = [
                (c, str(m), cur, r, co, q, n, None if d is None else str(d), p)
                for c, m, cur, r, co, q, n, d, p in rows
            ]
        else:
            connection = sqlite3.connect(self.database_path, timeout=30)
            try:
                rows = connection.execute(query.format("?"), (source,)).fetchall()
            finally:
                connection.close()
        return {
            (customer, month[:7], currency): {
                "revenue": Decimal(revenue).quantize(Decimal("0.01")),
                "cost": Decimal(cost).quantize(Decimal("0.01")),
                "quantity": Decimal(quantity).quantize(Decimal("0.0001")),
                "line_count": line_count,
                "last_sale_date": last_sale_date,
                "matched": party is not None,
            }
            for (
                customer,
                month,
                currency,
                revenue,
                cost,
                quantity,
                line_count,
                last_sale_date,
                party,
            ) in rows
        }
