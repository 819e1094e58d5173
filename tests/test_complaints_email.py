"""Complaints by e-mail, through Tryton's inbound_email module.

A real trytond with crm_module and its optional dependency inbound_email
activated; an inbox whose rule turns the mails sent to the complaints
address into complaints of the demo company. The tests post raw RFC 822
mails to the inbox's route, as a mail provider's webhook does.
"""

import sys
import uuid
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
import requests

from tests.erp_server import ErpServer
from tests.rpc import Rpc, RpcError, from_rpc_datetime, make_user

COMPLAINTS_ADDRESS = "complaints@crm.example.com"


@pytest.fixture(scope="module")
def email_erp(tmp_path_factory):
    server = ErpServer(tmp_path_factory.mktemp("erp-email"), modules=("inbound_email",))
    server.create()
    server.run(
        sys.executable, "-m", "fixtures.load_demo", server.database, "--phase", "base"
    )
    server.start()
    yield server
    server.drop()


@pytest.fixture(scope="module")
def inbox(email_erp):
    """The complaints inbox: its rule takes the mails to the complaints
    address; the customer C0001 has an e-mail address"""
    admin = Rpc(email_erp, "admin", email_erp.password)
    company = admin.context["company"]
    (inbox_id,) = admin.model(
        "inbound.email.inbox",
        "create",
        [
            {
                "name": "Complaints",
                "rules": [
                    [
                        "create",
                        [
                            {
                                "destination": "^complaints@",
                                "action": "crm.complaint|receive_email",
                                "complaint_company": company,
                            }
                        ],
                    ]
                ],
            }
        ],
    )
    admin.model("inbound.email.inbox", "new_identifier", [inbox_id])
    (values,) = admin.read("inbound.email.inbox", [inbox_id], ["identifier"])
    (customer,) = admin.search_read(
        "party.party", [["code", "=", "C0001"]], ["rec_name"]
    )
    admin.model(
        "party.contact_mechanism",
        "create",
        [
            {
                "party": customer["id"],
                "type": "email",
                "value": "Orders@Dongyuan.example",
            }
        ],
    )
    return {
        "url": (
            f"{email_erp.url}/{email_erp.database}/inbound_email/inbox/"
            f"{values['identifier']}"
        ),
        "admin": admin,
        "customer": customer,
    }


def mail(sender, subject, text, date=None, to=COMPLAINTS_ADDRESS):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example>"
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content(text)
    return message


def post(inbox, message):
    response = requests.post(
        inbox["url"],
        data=message.as_bytes(),
        headers={"Content-Type": "message/rfc822"},
        timeout=30,
    )
    assert response.status_code == 204, response.text
    return response


EMAIL_FIELDS = [
    "state",
    "sender",
    "sender_name",
    "subject",
    "received_at",
    "party",
    "complaint",
    "email",
    "reject_reason",
]


def complaint_emails(inbox, message):
    return inbox["admin"].search_read(
        "crm.complaint.email",
        [["message_id", "=", message["Message-ID"]]],
        EMAIL_FIELDS,
    )


def read_complaint(inbox, complaint_id):
    (complaint,) = inbox["admin"].read(
        "crm.complaint",
        [complaint_id],
        [
            "number",
            "state",
            "channel",
            "category",
            "party",
            "contact",
            "description",
            "received_at",
            "response_deadline",
        ],
    )
    return complaint


def utc_now():
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def test_a_known_sender_gets_a_complaint_at_once(inbox):
    # Sent three hours ago from Beijing; the address in another case.
    sent = datetime.now(timezone(timedelta(hours=8))).replace(
        microsecond=0
    ) - timedelta(hours=3)
    message = mail(
        "Li Mei <orders@dongyuan.example>",
        "Scratched doors",
        "The doors of order SO-1001 arrived scratched.",
        date=sent,
    )

    post(inbox, message)

    (received,) = complaint_emails(inbox, message)
    assert received["state"] == "assigned"
    assert received["party"] == inbox["customer"]["id"]
    assert received["sender"] == "orders@dongyuan.example"
    assert received["sender_name"] == "Li Mei"
    assert received["email"]
    complaint = read_complaint(inbox, received["complaint"])
    assert complaint["number"]
    assert complaint["state"] == "received"
    assert complaint["channel"] == "email"
    assert complaint["category"] == "other"
    assert complaint["party"] == inbox["customer"]["id"]
    assert complaint["contact"] == "Li Mei"
    assert complaint["description"] == (
        "Scratched doors\n\nThe doors of order SO-1001 arrived scratched."
    )
    # Received when sent (naive UTC): the time limits count from then.
    received_at = sent.astimezone(timezone.utc).replace(tzinfo=None)
    assert from_rpc_datetime(complaint["received_at"]) == received_at
    assert from_rpc_datetime(complaint["response_deadline"]) == received_at + timedelta(
        hours=24
    )
    # The inbound e-mail's result is the complaint e-mail.
    (inbound,) = inbox["admin"].read("inbound.email", [received["email"]], ["result"])
    assert inbound["result"] == f"crm.complaint.email,{received['id']}"


def test_the_same_mail_posted_twice_makes_one_complaint(inbox):
    message = mail("orders@dongyuan.example", "Late delivery", "Still waiting.")

    post(inbox, message)
    post(inbox, message)

    (received,) = complaint_emails(inbox, message)
    complaints = inbox["admin"].search_read(
        "crm.complaint", [["description", "=", "Late delivery\n\nStill waiting."]], []
    )
    assert [c["id"] for c in complaints] == [received["complaint"]]
    # Both posts are kept by the inbox, both pointing at the one record.
    inbound = inbox["admin"].search_read(
        "inbound.email",
        [["result", "=", f"crm.complaint.email,{received['id']}"]],
        ["id"],
    )
    assert len(inbound) == 2
    # No sender name: the address is the contact.
    assert read_complaint(inbox, received["complaint"])["contact"] == (
        "orders@dongyuan.example"
    )


def test_a_mail_dated_in_the_future_is_received_now(inbox):
    before = utc_now()
    message = mail(
        "orders@dongyuan.example",
        "Wrong invoice",
        "Invoice 42 is wrong.",
        date=datetime.now(timezone.utc) + timedelta(days=2),
    )

    post(inbox, message)

    after = utc_now()
    (received,) = complaint_emails(inbox, message)
    complaint = read_complaint(inbox, received["complaint"])
    assert before <= from_rpc_datetime(complaint["received_at"]) <= after
    assert from_rpc_datetime(received["received_at"]) == from_rpc_datetime(
        complaint["received_at"]
    )


def test_an_unknown_sender_waits_until_a_user_assigns_the_customer(email_erp, inbox):
    admin = inbox["admin"]
    sent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    message = mail(
        "Wang Fang <wang.fang@unknown.example>",
        "Broken handle",
        "A door handle broke after a week.",
        date=sent,
    )

    post(inbox, message)

    (waiting,) = complaint_emails(inbox, message)
    assert waiting["state"] == "waiting"
    assert waiting["party"] is None
    assert waiting["complaint"] is None
    listed = admin.search_read(
        "crm.complaint.email", [["state", "=", "waiting"]], ["id"]
    )
    assert waiting["id"] in {r["id"] for r in listed}

    # A user of the complaint desk (group CRM) assigns it.
    password = make_user(admin, "desk", ["CRM"])
    desk = Rpc(email_erp, "desk", password)
    with pytest.raises(RpcError) as no_customer:
        desk.model("crm.complaint.email", "assign", [waiting["id"]])
    assert "choose its customer" in no_customer.value.message
    desk.model(
        "crm.complaint.email",
        "write",
        [waiting["id"]],
        {"party": inbox["customer"]["id"]},
    )
    desk.model("crm.complaint.email", "assign", [waiting["id"]])

    (assigned,) = complaint_emails(inbox, message)
    assert assigned["state"] == "assigned"
    complaint = read_complaint(inbox, assigned["complaint"])
    assert complaint["party"] == inbox["customer"]["id"]
    assert complaint["channel"] == "email"
    assert complaint["contact"] == "Wang Fang"
    # Received when the mail was, not when it was assigned.
    assert from_rpc_datetime(complaint["received_at"]) == sent.replace(tzinfo=None)

    # Posted again, it stays the one complaint.
    post(inbox, message)
    (again,) = complaint_emails(inbox, message)
    assert again["complaint"] == assigned["complaint"]


def test_a_waiting_mail_is_rejected_with_a_reason(inbox):
    admin = inbox["admin"]
    message = mail("offers@spam.example", "Cheap watches", "Buy now.")
    post(inbox, message)
    (waiting,) = complaint_emails(inbox, message)

    with pytest.raises(RpcError) as no_reason:
        admin.model("crm.complaint.email", "reject", [waiting["id"]])
    assert "give the reason" in no_reason.value.message
    admin.model(
        "crm.complaint.email", "write", [waiting["id"]], {"reject_reason": "Spam."}
    )
    admin.model("crm.complaint.email", "reject", [waiting["id"]])

    (rejected,) = complaint_emails(inbox, message)
    assert rejected["state"] == "rejected"
    assert rejected["complaint"] is None


def test_a_mail_to_another_address_is_no_complaint(inbox):
    message = mail(
        "orders@dongyuan.example", "Newsletter", "Hello.", to="sales@crm.example.com"
    )

    post(inbox, message)

    assert complaint_emails(inbox, message) == []


def test_an_unknown_inbox_is_not_found(email_erp):
    response = requests.post(
        f"{email_erp.url}/{email_erp.database}/inbound_email/inbox/nope",
        data=mail("a@b.example", "x", "y").as_bytes(),
        timeout=30,
    )
    assert response.status_code == 404
