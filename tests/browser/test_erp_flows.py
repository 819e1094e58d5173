"""Whole user stories clicked through the web client: a complaint from
received to closed by a CRM user and a manager, and a visit that brings an
overdue customer back into compliance. Each step is checked in the screens
and in the database behind them."""

from collections import Counter
from datetime import date

import pytest

from tests.rpc import make_user, rpc_date, rpc_decimal, rpc_now

from .sao import query


@pytest.fixture(scope="module")
def crm_user(admin):
    "A CRM user who is no manager: (login, password, user id)"
    password = make_user(admin, "li", ["CRM"])
    (user,) = admin.search_read("res.user", [["login", "=", "li"]], ["id"])
    return "li", password, user["id"]


def db_state(erp, complaint_id):
    return query(erp, "SELECT state FROM crm_complaint WHERE id = ?", complaint_id)[0][
        0
    ]


def wait_state(sao, erp, complaint_id, state):
    sao.wait(
        lambda d: db_state(erp, complaint_id) == state,
        f"the complaint did not reach {state}",
    )


def new_complaint(admin):
    "A complaint taken in by phone for a strategic customer"
    (party,) = admin.search_read(
        "party.party",
        [["crm_qualifications.qualification.code", "=", "designated_strategic"]],
        ["id"],
    )[:1]
    (complaint_id,) = admin.model(
        "crm.complaint",
        "create",
        [
            {
                "company": admin.context["company"],
                "party": party["id"],
                "channel": "phone",
                "category": "quality",
                "severity": "serious",
                "description": "Door panels scratched on delivery.",
            }
        ],
    )
    return complaint_id


def test_complaint_from_received_to_closed(sao, erp, admin, crm_user):
    complaint_id = new_complaint(admin)
    login, password, crm_user_id = crm_user
    (admin_id,) = query(erp, "SELECT id FROM res_user WHERE login = 'admin'")[0]
    (department,) = query(erp, "SELECT name FROM crm_department ORDER BY id")[1]

    # The CRM user acknowledges, assigns and analyses.
    sao.login(login, password)
    sao.open_record("crm.complaint", complaint_id)
    sao.wait_value("state", "Received")
    sao.button("Acknowledge")
    wait_state(sao, erp, complaint_id, "acknowledged")
    sao.wait_value("state", "Acknowledged")

    sao.choose("responsible_department", department)
    sao.button("Investigate")
    wait_state(sao, erp, complaint_id, "investigating")

    sao.tab("Analysis and Measures")
    sao.fill("cause_analysis", "The packing foam was too thin for the route.")
    sao.fill("measures", "Replace the panels; thicker foam on every shipment.")
    sao.button("Submit for Approval")
    wait_state(sao, erp, complaint_id, "awaiting_approval")
    sao.wait_value("state", "Awaiting Approval")
    assert query(
        erp,
        "SELECT cause_analysis, measures FROM crm_complaint WHERE id = ?",
        complaint_id,
    ) == [
        (
            "The packing foam was too thin for the route.",
            "Replace the panels; thicker foam on every shipment.",
        )
    ]
    # Approval is the manager's: the CRM user has no button to press.
    assert not sao.enabled_buttons("Approve Measures")

    # The manager approves; the case is resolved, called back and closed.
    sao.logout()
    sao.login("admin")
    sao.open_record("crm.complaint", complaint_id)
    sao.wait_value("state", "Awaiting Approval")
    sao.button("Approve Measures")
    wait_state(sao, erp, complaint_id, "resolving")
    assert query(
        erp, "SELECT approved_by FROM crm_complaint WHERE id = ?", complaint_id
    ) == [(admin_id,)]

    # A strategic customer's quality problem: a preventive measure to verify
    # and the action taken (lines written over RPC, as the form's editable
    # lists are; the buttons and fields below are the screen's).
    (engineer,) = query(
        erp,
        "SELECT e.id FROM company_employee e JOIN crm_department d "
        "ON e.crm_department = d.id ORDER BY d.id, e.id",
    )[:1]
    admin.model(
        "crm.complaint",
        "write",
        [complaint_id],
        {
            "preventive_measures": [
                [
                    "create",
                    [
                        {
                            "name": "Thicker foam on every shipment",
                            "owner": engineer[0],
                            "due_date": rpc_date(date.today()),
                        }
                    ],
                ]
            ],
            "actions": [
                [
                    "create",
                    [{"kind": "replace", "amount": rpc_decimal("3600.00")}],
                ]
            ],
            "actions_taken": "Panels replaced on site.",
        },
    )
    sao.reload()
    sao.wait_value("state", "Resolving")
    sao.tab("Actions and Prevention")
    sao.button("Resolved")
    wait_state(sao, erp, complaint_id, "return_visit")

    def call_back(satisfaction, answer):
        admin.model(
            "crm.complaint",
            "write",
            [complaint_id],
            {"agreed_at": rpc_now(), "agreed_with": "Mr. Sun"},
        )
        sao.reload()
        sao.wait_value("state", "Return Visit")
        sao.tab("Return Visit")
        sao.fill("return_visit_date", date.today().strftime("%m/%d/%Y"))
        sao.choose("return_visit_by", caller)
        sao.fill("satisfaction", str(satisfaction))
        sao.fill("return_visit_result", answer)

    # The receiving department's employee calls back: the customer is not
    # satisfied (2 below the target 3), the complaint goes back to resolving.
    (caller,) = query(
        erp,
        "SELECT p.name FROM company_employee e JOIN party_party p "
        "ON e.party = p.id JOIN crm_department d ON e.crm_department = d.id "
        "JOIN crm_complaint c ON c.receiving_department = d.id "
        "WHERE c.id = ? ORDER BY e.id",
        complaint_id,
    )[0]
    today = date.today()
    call_back(2, "Two panels still scratched.")
    sao.button("Not Satisfied")
    wait_state(sao, erp, complaint_id, "resolving")
    sao.wait_value("state", "Resolving")
    sao.button("Resolved")
    wait_state(sao, erp, complaint_id, "return_visit")

    # Satisfied now; the preventive measure verified, the complaint closes.
    call_back(4, "Satisfied with the replacement.")
    (measure,) = query(
        erp,
        "SELECT id FROM crm_complaint_preventive WHERE complaint = ?",
        complaint_id,
    )[0]
    admin.model(
        "crm.complaint.preventive",
        "write",
        [measure],
        {
            "verified_by": engineer[0],
            "verified_on": rpc_date(today),
            "verification": "Two shipments checked.",
        },
    )
    sao.button("Close")
    wait_state(sao, erp, complaint_id, "closed")
    sao.wait_value("state", "Closed")

    # The history tab shows every step; the database has who did it.
    sao.tab("History")
    for who, to_state in [
        ("Administrator", "Received"),
        (login.title(), "Acknowledged"),
        (login.title(), "Investigating"),
        (login.title(), "Awaiting Approval"),
        ("Administrator", "Resolving"),
        ("Administrator", "Return Visit"),
        ("Administrator", "Resolving"),
        ("Administrator", "Closed"),
    ]:
        sao.wait_row(who, to_state)
    logs = query(
        erp,
        "SELECT from_state, to_state, user FROM crm_complaint_log "
        "WHERE complaint = ? ORDER BY date, id",
        complaint_id,
    )
    assert logs == [
        (None, "received", admin_id),
        ("received", "acknowledged", crm_user_id),
        ("acknowledged", "investigating", crm_user_id),
        ("investigating", "awaiting_approval", crm_user_id),
        ("awaiting_approval", "resolving", admin_id),
        ("resolving", "return_visit", admin_id),
        ("return_visit", "resolving", admin_id),
        ("resolving", "return_visit", admin_id),
        ("return_visit", "closed", admin_id),
    ]
    (closed,) = query(
        erp,
        "SELECT return_visit_date, satisfaction, closed_at IS NOT NULL "
        "FROM crm_complaint WHERE id = ?",
        complaint_id,
    )
    assert closed == (today.isoformat(), 4, 1)
    # The return visit's score is kept as a satisfaction survey.
    assert query(
        erp,
        "SELECT overall FROM crm_satisfaction WHERE complaint = ?",
        complaint_id,
    ) == [(4,)]


def overdue_visits(admin):
    """The overdue monthly account-manager visits whose customer has an
    account manager and a name no other party has: the test picks the
    customer by name. A visit today is inside this month's window, which the
    compliance screen's default period (to the end of this month) requires."""
    rows = admin.search_read(
        "crm.visit.compliance",
        [
            ["overdue", "=", True],
            ["account_manager", "!=", None],
            ["level", "=", "account_manager"],
        ],
        [
            "party",
            "party.rec_name",
            "level",
            "account_manager",
            "responsible",
            "unassigned",
            "next_due",
        ],
    )
    names = Counter(
        party["name"]
        for party in admin.search_read(
            "party.party",
            [["name", "in", [r["party."]["rec_name"] for r in rows]]],
            ["name"],
        )
    )
    return [r for r in rows if names[r["party."]["rec_name"]] == 1]


def manager_rate(admin, compliance):
    "The name and rate of the row of the employee answering for compliance"
    # The ids of crm.visit.compliance.manager: responsible * 2 + unassigned
    row_id = compliance["responsible"] * 2 + int(bool(compliance["unassigned"]))
    (row,) = admin.read(
        "crm.visit.compliance.manager", [row_id], ["employee.rec_name", "rate"]
    )
    return row["employee."]["rec_name"], row["rate"]["decimal"]


def level_labels(admin):
    fields = admin.model("crm.visit", "fields_get", ["level"])
    return dict(fields["level"]["selection"])


def shown(day):
    "A date as the web client shows it in English"
    return date(day["year"], day["month"], day["day"]).strftime("%m/%d/%Y")


def test_visit_brings_an_overdue_customer_into_compliance(sao, erp, admin):
    # One overdue customer gets its visit; another one stays overdue, which
    # shows that the list was loaded when the first is no longer in it.
    rows = overdue_visits(admin)
    assert len(rows) >= 2, "the demo data should have two overdue visits"
    overdue, witness = rows[:2]
    labels = level_labels(admin)
    party_name = overdue["party."]["rec_name"]
    level_label = labels[overdue["level"]]
    manager, rate_before = manager_rate(admin, overdue)
    sao.login("admin")

    # The overdue list names the customer; the manager's rate is as before.
    sao.open_list("crm.visit.compliance", domain=[["overdue", "=", True]])
    sao.wait_row(party_name, level_label, shown(overdue["next_due"]))
    sao.open_list("crm.visit.compliance.manager")
    sao.wait_row(manager, rate_before)

    # The account manager records the visit.
    today = date.today()
    (latest,) = query(
        erp, "SELECT subject FROM crm_visit ORDER BY date DESC, id DESC LIMIT 1"
    )[0]
    sao.open_list("crm.visit")
    sao.wait_row(latest)
    sao.new_record()
    sao.choose("party", party_name)
    sao.fill("date", today.strftime("%m/%d/%Y"))
    sao.select("level", level_label)
    sao.fill("subject", "Review of the open orders")
    sao.save()
    sao.wait(
        lambda d: (
            query(
                erp,
                "SELECT COUNT(*) FROM crm_visit WHERE party = ? AND level = ? "
                "AND date = ?",
                overdue["party"],
                overdue["level"],
                today.isoformat(),
            )
            == [(1,)]
        ),
        "the visit was not saved",
    )

    # The customer left the overdue list; its next visit is due later.
    (after,) = admin.read(
        "crm.visit.compliance",
        [overdue["id"]],
        ["last_visit", "next_due", "overdue_days"],
    )
    assert (shown(after["last_visit"]), after["overdue_days"]) == (
        today.strftime("%m/%d/%Y"),
        0,
    )
    # The client brings back the tab of this list opened before: reload it.
    sao.open_list("crm.visit.compliance", domain=[["overdue", "=", True]])
    sao.reload()
    sao.wait_row(witness["party."]["rec_name"], labels[witness["level"]])
    sao.wait(
        lambda d: not sao.rows(party_name, level_label),
        "the customer is still listed as overdue",
    )
    sao.open_list("crm.visit.compliance", domain=[["id", "=", overdue["id"]]])
    sao.wait_row(party_name, level_label, shown(after["next_due"]))
    # The manager's compliance went up, on the screen too.
    _, rate_after = manager_rate(admin, overdue)
    assert float(rate_after) > float(rate_before)
    sao.open_list("crm.visit.compliance.manager")
    sao.reload()
    sao.wait_row(manager, rate_after)
