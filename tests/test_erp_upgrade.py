"""A database made by the previous release upgrades with ``trytond-admin -u
crm_module`` and keeps everything users entered.

The previous release's crm_module and fixtures are taken from the git
history (``git archive``), the whole demo is built with them, and the
database is upgraded with the module of this tree. Every row of the
module's tables is compared before and after, column by column for the
columns the previous release had; then the upgraded ERP serves the records.
"""

import shutil
import sqlite3
import subprocess
import tarfile
from io import BytesIO

import pytest

from tests.erp_server import BIN, REPOSITORY_ROOT, ErpServer
from tests.rpc import Rpc

# The last commit of the release before this one (main as it landed on
# 2026-12-03 with tier criteria, before visits had ways of contact and key
# customers the strategic visit policy).
PREVIOUS_RELEASE = "bc7b8374397cfe23e65a40b03945148c6974a450"
# Stamps the upgrade itself may rewrite.
STAMPS = {"write_date", "write_uid"}
# Columns the upgrade rewrites on purpose: the key tiers' visit intervals
# become the strategic ones (test_key_customers_follow_strategic_visits).
REWRITTEN = {"crm_visit_policy": {"interval"}}
# Tables to which the upgrade adds rows, keeping those of the previous
# release: the key customers' complaint time limits (4/7), since the
# previous release's matrix is the shipped one.
GROWN = {"crm_complaint_time_limit"}


def previous_release(directory):
    "Unpack crm_module and fixtures of the previous release into directory"
    if shutil.which("git") is None:
        pytest.fail("git is needed to take the previous release from history")
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_RELEASE, "crm_module", "fixtures"],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode:
        pytest.fail(
            f"the previous release {PREVIOUS_RELEASE} is not in the history of "
            f"this checkout: {archive.stderr.decode()}"
        )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return directory


class Database:
    "Direct reads of the ERP's database, on SQLite or PostgreSQL"

    def __init__(self, server):
        self.server = server

    def rows(self, sql):
        if self.server.postgresql_uri:
            with self.server._postgresql(self.server.database) as connection:
                return connection.execute(sql).fetchall()
        connection = sqlite3.connect(self.server.database_path)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()

    def tables(self):
        if self.server.postgresql_uri:
            sql = (
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND (table_name LIKE 'crm%' "
                "OR table_name LIKE 'party%')"
            )
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return sorted(
            name
            for (name,) in self.rows(sql)
            if name.startswith("crm_") or name in {"party_party", "party_identifier"}
        )

    def columns(self, table):
        if self.server.postgresql_uri:
            sql = (
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_name = '{table}'"
            )
            names = [name for (name,) in self.rows(sql)]
        else:
            names = [row[1] for row in self.rows(f'PRAGMA table_info("{table}")')]
        return sorted(set(names) - STAMPS)

    def content(self, table, columns):
        listed = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
        return sorted(
            self.rows(f'SELECT {listed} FROM "{table}" ORDER BY id'),
            key=lambda row: [str(value) for value in row],
        )


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    """The demo built by the previous release, before and after the upgrade
    with this tree: (what it held, the upgraded server)"""
    directory = tmp_path_factory.mktemp("upgrade")
    old = ErpServer(
        directory,
        database="erp_upgrade",
        code_root=previous_release(tmp_path_factory.mktemp("previous")),
    )
    old.build_demo()
    before = Database(old)
    held = {
        table: (columns, before.content(table, columns))
        for table in before.tables()
        for columns in [before.columns(table)]
    }

    server = ErpServer(directory, database="erp_upgrade")
    server.database = old.database  # the same PostgreSQL database too
    server.run(str(BIN / "trytond-admin"), "-d", server.database, "-u", "crm_module")
    server.start()
    try:
        yield held, server
    finally:
        server.drop()


def test_upgrade_keeps_every_row(upgraded):
    held, server = upgraded
    after = Database(server)
    assert set(held) <= set(after.tables())
    assert sum(len(rows) for _, rows in held.values()) > 1000, "demo too small"
    for table, (columns, rows) in held.items():
        assert set(columns) <= set(after.columns(table)), table
        kept = [c for c in columns if c not in REWRITTEN.get(table, set())]
        expected = sorted(
            (tuple(row[columns.index(c)] for c in kept) for row in rows),
            key=lambda row: [str(value) for value in row],
        )
        content = after.content(table, kept)
        if table in GROWN:
            remaining = list(content)
            for row in expected:
                assert row in remaining, (table, row)
                remaining.remove(row)
        else:
            assert content == expected, table


def test_upgraded_erp_serves_what_users_entered(upgraded):
    held, server = upgraded
    admin = Rpc(server, "admin", server.password)
    complaints = admin.search_read(
        "crm.complaint", [], ["number", "state", "response_due"]
    )
    assert len(complaints) == len(held["crm_complaint"][1])
    assert all(c["response_due"] for c in complaints if c["state"] != "cancelled")
    # Reminders made before the upgrade speak the reader's language now.
    reminders = admin.search_read("crm.reminder", [], ["description"])
    assert reminders, "the demo has reminders"
    assert all(r["description"] for r in reminders)
    lines = admin.search_read(
        "crm.evaluation.line", [["changed", "=", True]], ["party"]
    )
    assert lines, "the demo's evaluations change some tiers"


def test_key_customers_follow_strategic_visits(upgraded):
    """The key tier's policy shipped before, in no rulebook, becomes the
    strategic one; every line counts on-site visits and video meetings, and
    the visits recorded before were on-site visits"""
    held, server = upgraded
    admin = Rpc(server, "admin", server.password)
    lines = admin.search_read(
        "crm.visit.policy",
        [],
        ["tier.code", "level", "interval", "interval_unit", "ways"],
    )
    by_tier = {}
    for line in lines:
        by_tier.setdefault(line["tier."]["code"], {})[line["level"]] = (
            line["interval"],
            line["interval_unit"],
        )
    assert by_tier["key"] == by_tier["strategic"]
    assert by_tier["key"]["account_manager"] == (1, "months")
    columns, before = held["crm_visit_policy"]
    assert {row[columns.index("interval")] for row in before} >= {"12"}
    assert all(sorted(line["ways"]) == ["video", "visit"] for line in lines)
    visits = admin.search_read("crm.visit", [], ["way"])
    assert len(visits) == len(held["crm_visit"][1]) > 0
    assert {v["way"] for v in visits} == {"visit"}


def test_key_customers_get_strategic_complaint_precedence(upgraded):
    """The previous release's time limits were the shipped ones: the upgrade
    gives the key tier rows of its own with the strategic priority"""
    _, server = upgraded
    admin = Rpc(server, "admin", server.password)
    limits = admin.search_read(
        "crm.complaint.time_limit",
        [["tier", "!=", None]],
        ["severity", "priority", "tier.code"],
    )
    by_tier = {}
    for limit in limits:
        by_tier.setdefault(limit["tier."]["code"], {})[limit["severity"]] = limit[
            "priority"
        ]
    assert set(by_tier) == {"strategic", "key"}
    assert by_tier["key"] == by_tier["strategic"]
    assert set(by_tier["key"]) == {"general", "serious", "very_serious"}


def test_upgrade_gives_the_shipped_return_visit_settings(upgraded):
    """The columns 4/7 adds take the product's defaults on the rows of the
    previous release: the return visit within 24 hours, a satisfaction
    target of 3, preventive measures for strategic customers and handling
    first for strategic and key ones"""
    _, server = upgraded
    admin = Rpc(server, "admin", server.password)
    limits = admin.search_read("crm.complaint.time_limit", [], ["return_visit_time"])
    assert limits
    assert {limit["return_visit_time"]["seconds"] for limit in limits} == {86400}
    tiers = admin.search_read("crm.tier", [], ["satisfaction_target"])
    assert {tier["satisfaction_target"] for tier in tiers} == {3}
    (configuration,) = admin.read(
        "crm.configuration",
        [1],
        ["complaint_preventive_tiers", "complaint_handle_first_tiers"],
    )
    assert configuration["complaint_preventive_tiers"] == ["strategic"]
    assert sorted(configuration["complaint_handle_first_tiers"]) == ["key", "strategic"]
