# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)
"""Escalation e-mails, received by a real SMTP server.

A real trytond with crm_module (and the Chinese translations) sends its
mail to an aiosmtpd server of the test on loopback (``[email] uri``). A
time limit breached is escalated to the manager of the supervising
department: found by the scheduled action, or ended by a late action.
Each breach reaches the manager once, in the language of the manager's
party, when the configuration asks for e-mails. trytond sends at commit:
the message is on the SMTP server when the call returns.
"""

import email
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from tests.erp_server import ErpServer, free_port
from tests.rpc import Rpc, from_rpc_datetime

# The demo company's time zone: the texts give the deadline in it.
COMPANY_ZONE = ZoneInfo("Asia/Shanghai")


class Mailbox:
    "An aiosmtpd handler that keeps every message it receives"

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def about(self, number, timeout=5.0):
        """The messages about the complaint numbered number; waits a little
        for an expected one (sent at the commit of the call)"""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [
                    (to, m) for to, m in self.messages if number in str(m["Subject"])
                ]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture(scope="module")
def mail_erp(tmp_path_factory, smtp):
    controller, _ = smtp
    server = ErpServer(
        tmp_path_factory.mktemp("erp-mail"),
        email_uri=f"smtp://{controller.hostname}:{controller.port}",
    )
    server.create("zh_CN")
    server.run(
        sys.executable, "-m", "fixtures.load_demo", server.database, "--phase", "base"
    )
    server.start()
    yield server
    server.drop()


def rpc_datetime(value):
    return {
        "__class__": "datetime",
        "year": value.year,
        "month": value.month,
        "day": value.day,
        "hour": value.hour,
        "minute": value.minute,
        "second": value.second,
        "microsecond": 0,
    }


def utc_now():
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def company_time(value):
    "The naive UTC value as the company's texts show it"
    local = value.replace(tzinfo=timezone.utc).astimezone(COMPANY_ZONE)
    return local.strftime("%Y-%m-%d %H:%M")


@pytest.fixture(scope="module")
def desk(mail_erp):
    """Admin's session, a customer, and two supervising departments: one
    whose manager reads English, one whose manager reads Chinese; e-mails
    on, the customer service receiving"""
    admin = Rpc(mail_erp, "admin", mail_erp.password)
    company = admin.context["company"]
    languages = {
        lang["code"]: lang["id"]
        for lang in admin.search_read(
            "ir.lang", [["code", "in", ["en", "zh_CN"]]], ["code"]
        )
    }

    def manager(name, address, language):
        (party,) = admin.model(
            "party.party",
            "create",
            [
                {
                    "name": name,
                    "lang": languages[language],
                    "contact_mechanisms": [
                        ["create", [{"type": "email", "value": address}]]
                    ],
                }
            ],
        )
        (employee,) = admin.model(
            "company.employee", "create", [{"party": party, "company": company}]
        )
        return employee

    english = manager("Sam Lee", "sam.lee@example.com", "en")
    chinese = manager("陈静", "chen.jing@example.com", "zh_CN")
    departments = admin.model(
        "crm.department",
        "create",
        [
            {"name": "Customer Service", "company": company},
            {"name": "Supervision", "company": company, "manager": english},
            {"name": "监督部", "company": company, "manager": chinese},
        ],
    )
    reception, english_supervision, chinese_supervision = departments
    admin.model(
        "crm.configuration",
        "write",
        [1],
        {
            "complaint_escalation_email": True,
            "complaint_receiving_department": reception,
        },
    )
    (customer,) = admin.search_read(
        "party.party", [["code", "=", "C0001"]], ["rec_name"]
    )
    (cron,) = admin.search_read(
        "ir.cron", [["method", "=", "crm.complaint|escalate"]], ["id"]
    )

    class Desk:
        rpc = admin

        @staticmethod
        def receive(received_at, supervising):
            (complaint,) = admin.model(
                "crm.complaint",
                "create",
                [
                    {
                        "party": customer["id"],
                        "channel": "phone",
                        "category": "delivery",
                        "severity": "general",
                        "description": "The doors arrived scratched.",
                        "received_at": rpc_datetime(received_at),
                        "supervising_department": supervising,
                    }
                ],
            )
            (values,) = admin.read(
                "crm.complaint",
                [complaint],
                ["number", "response_deadline", "handling_deadline"],
            )
            return values

        @staticmethod
        def escalate():
            admin.model("ir.cron", "run_once", [cron["id"]])

        @staticmethod
        def escalations(complaint):
            return admin.search_read(
                "crm.complaint.escalation",
                [["complaint", "=", complaint["id"]]],
                ["kind", "emailed", "notified_users"],
            )

    Desk.customer = customer["rec_name"]
    Desk.english = english_supervision
    Desk.chinese = chinese_supervision
    return Desk


def deadline(complaint, kind):
    return from_rpc_datetime(complaint[f"{kind}_deadline"])


def by_subject(messages):
    return sorted(messages, key=lambda m: str(m[1]["Subject"]))


def test_breaches_found_by_the_scheduled_action_are_emailed_once(desk, smtp):
    _, mailbox = smtp
    complaint = desk.receive(utc_now() - timedelta(days=2), desk.english)
    number = complaint["number"]
    assert number
    assert mailbox.about(number, timeout=0) == []

    desk.escalate()

    messages = by_subject(mailbox.about(number))
    # The response and the start of the handling are 24 hours late; the
    # resolution (7 days) is not.
    assert len(messages) == 2
    (_, handling), (_, response) = messages
    for to, message in messages:
        assert to == ["sam.lee@example.com"]
        assert message["To"] == "sam.lee@example.com"
        assert message["From"] == "crm@example.com"
    customer = desk.customer
    assert response["Subject"] == (
        f"Complaint {number} - {customer}: response time limit breached"
    )
    assert handling["Subject"] == (
        f"Complaint {number} - {customer}: handling time limit breached"
    )
    assert response.get_content().strip() == (
        f"The deadline was {company_time(deadline(complaint, 'response'))}; "
        "responsible department: Customer Service."
    )
    assert handling.get_content().strip() == (
        f"The deadline was {company_time(deadline(complaint, 'handling'))}; "
        "responsible department: Customer Service."
    )
    escalations = desk.escalations(complaint)
    assert sorted(e["kind"] for e in escalations) == ["handling", "response"]
    assert all(e["emailed"] for e in escalations)

    # The next run finds the breaches recorded: nothing is sent again.
    desk.escalate()
    time.sleep(0.5)
    assert len(mailbox.about(number, timeout=0)) == 2
    assert len(desk.escalations(complaint)) == 2


def test_a_late_acknowledgement_is_emailed_at_once_in_chinese(desk, smtp):
    _, mailbox = smtp
    received_at = utc_now() - timedelta(hours=25)
    complaint = desk.receive(received_at, desk.chinese)
    number = complaint["number"]
    # Received before the previous run's breaches: the scheduled action has
    # not seen it yet.

    desk.rpc.model("crm.complaint", "acknowledge", [complaint["id"]])

    ((to, message),) = mailbox.about(number)
    assert to == ["chen.jing@example.com"]
    assert message["To"] == "chen.jing@example.com"
    # The manager's party speaks Chinese: 投诉 (complaint), 答复时限
    # (response time limit), 已超时 (breached), 责任部门 (responsible
    # department).
    assert str(message["Subject"]) == (
        f"投诉 {number} - {desk.customer}：答复时限已超时"
    )
    assert message.get_content().strip() == (
        f"期限为 {company_time(deadline(complaint, 'response'))}；"
        "责任部门：Customer Service。"
    )

    # The scheduled action escalates the start of the handling, late too,
    # and not the response again; a second run sends nothing more.
    desk.escalate()
    desk.escalate()
    time.sleep(0.5)
    messages = by_subject(mailbox.about(number, timeout=0))
    assert [str(m["Subject"]) for _, m in messages] == [
        f"投诉 {number} - {desk.customer}：开始处理时限已超时",
        f"投诉 {number} - {desk.customer}：答复时限已超时",
    ]
    escalations = desk.escalations(complaint)
    assert sorted(e["kind"] for e in escalations) == ["handling", "response"]
    assert all(e["emailed"] for e in escalations)


def test_no_email_when_the_configuration_does_not_ask(desk, smtp):
    _, mailbox = smtp
    desk.rpc.model(
        "crm.configuration", "write", [1], {"complaint_escalation_email": False}
    )
    try:
        complaint = desk.receive(utc_now() - timedelta(days=2), desk.english)
        desk.escalate()
        time.sleep(0.5)
        assert mailbox.about(complaint["number"], timeout=0) == []
        escalations = desk.escalations(complaint)
        assert len(escalations) == 2
        assert not any(e["emailed"] for e in escalations)
    finally:
        desk.rpc.model(
            "crm.configuration", "write", [1], {"complaint_escalation_email": True}
        )
