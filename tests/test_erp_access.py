"""Who may read and do what in the ERP (crm_module/doc/policy.md,
"Confidentiality and records"), over the
JSON-RPC the web client uses.

The users are made by the admin over JSON-RPC in the test ERP of
tests/conftest.py: one in no CRM group, a finance reader, a CRM user and a
CRM manager. Each refusal is checked to have changed nothing.
"""

import secrets
from datetime import date

import pytest
import requests

from tests.rpc import TIMEOUT, Rpc, RpcError, make_user

GROUPS = {
    "nobody": [],
    "finance": ["CRM Finance"],
    "crm": ["CRM"],
    "manager": ["CRM", "CRM Manager"],
}
PARTY_CRM_FIELDS = [
    "crm_tier",
    "crm_account_manager",
    "crm_industry_standing",
    "crm_qualifications",
    "crm_complaints",
    "crm_visits",
    "crm_tier_history",
]


@pytest.fixture(scope="module")
def admin(erp):
    return Rpc(erp, "admin", erp.password)


@pytest.fixture(scope="module")
def users(erp, admin):
    "A user of each kind, logged in"
    suffix = secrets.token_hex(3)
    sessions = {}
    for kind, names in GROUPS.items():
        login = f"{kind}-{suffix}"
        sessions[kind] = Rpc(erp, login, make_user(admin, login, names))
    return sessions


@pytest.fixture(scope="module")
def customer(admin):
    (party,) = admin.search_read("party.party", [["code", "=", "C0001"]], ["name"])
    return party["id"]


@pytest.fixture
def evaluation(admin):
    today = date.today()
    (evaluation_id,) = admin.model(
        "crm.evaluation",
        "create",
        [
            {
                "company": admin.context["company"],
                "name": f"Access {secrets.token_hex(3)}",
                "period_type": "calendar",
                "measure": "revenue",
                "start_date": date(today.year - 1, 1, 1).isoformat(),
                "end_date": date(today.year - 1, 12, 31).isoformat(),
            }
        ],
    )
    return evaluation_id


@pytest.fixture
def complaint(admin, customer):
    (complaint_id,) = admin.model(
        "crm.complaint",
        "create",
        [
            {
                "company": admin.context["company"],
                "party": customer,
                "channel": "phone",
                "category": "quality",
                "severity": "serious",
                "description": "Door panels scratched on delivery.",
            }
        ],
    )
    return complaint_id


def refused(call, *args):
    "The RPC error of a call that must be refused"
    with pytest.raises(RpcError) as caught:
        call(*args)
    return caught.value


def assert_no_access(error):
    "Tryton's model or field access refusal"
    assert error.message.startswith("You are not allowed to access"), error.message


def assert_no_button(error):
    "Tryton's refusal of a button outside the user's groups"
    assert error.message.startswith("Calling button"), error.message
    assert error.message.endswith("is not allowed."), error.message


def state(admin, model, record_id):
    return admin.read(model, [record_id], ["state"])[0]["state"]


def test_a_user_in_no_crm_group_reads_no_crm_data(
    users, admin, evaluation, complaint, customer
):
    nobody = users["nobody"]

    for model, record_id in [
        ("crm.evaluation", evaluation),
        ("crm.complaint", complaint),
    ]:
        assert_no_access(refused(nobody.read, model, [record_id], ["id"]))
        assert_no_access(refused(nobody.search_read, model, [], ["id"]))
    for name in PARTY_CRM_FIELDS:
        assert_no_access(refused(nobody.read, "party.party", [customer], [name]))
    # The party itself stays readable: only its CRM part is hidden.
    (party,) = nobody.read("party.party", [customer], ["name"])
    assert party["name"]
    assert_no_access(refused(nobody.search_read, "party.party", [], ["crm_tier"]))


def test_finance_reads_but_neither_writes_nor_approves(
    users, admin, evaluation, complaint, customer
):
    finance = users["finance"]

    (read,) = finance.read("crm.evaluation", [evaluation], ["name", "state"])
    assert read["state"] == "draft"
    assert finance.read("crm.complaint", [complaint], ["state"])[0]["state"] == (
        "received"
    )
    assert finance.read("party.party", [customer], ["crm_tier"])
    name = read["name"]

    assert_no_access(
        refused(finance.model, "crm.evaluation", "write", [evaluation], {"name": "x"})
    )
    for button in ["compute", "approve", "apply"]:
        assert_no_button(refused(finance.model, "crm.evaluation", button, [evaluation]))
    assert_no_access(
        refused(
            finance.model, "crm.complaint", "write", [complaint], {"description": "x"}
        )
    )
    assert_no_button(
        refused(finance.model, "crm.complaint", "acknowledge", [complaint])
    )
    assert_no_access(
        refused(
            finance.model,
            "party.party",
            "write",
            [customer],
            {"crm_prospect_source": "changed"},
        )
    )

    assert admin.read("crm.evaluation", [evaluation], ["name", "state"])[0] == {
        "id": evaluation,
        "name": name,
        "state": "draft",
    }
    assert state(admin, "crm.complaint", complaint) == "received"


def test_a_crm_user_cannot_approve_an_evaluation(users, admin, evaluation):
    crm = users["crm"]
    crm.model("crm.evaluation", "compute", [evaluation])
    assert state(admin, "crm.evaluation", evaluation) == "computed"

    assert_no_button(refused(crm.model, "crm.evaluation", "approve", [evaluation]))
    # Nor by writing the state the button would write.
    error = refused(
        crm.model, "crm.evaluation", "write", [evaluation], {"state": "approved"}
    )
    assert "cannot be written directly" in error.message
    (record,) = admin.read("crm.evaluation", [evaluation], ["state", "approved_by"])
    assert (record["state"], record["approved_by"]) == ("computed", None)

    manager = users["manager"]
    manager.model("crm.evaluation", "approve", [evaluation])
    (record,) = admin.read(
        "crm.evaluation", [evaluation], ["state", "approved_by", "approved_at"]
    )
    # Recorded with who and when (policy.md, "Confidentiality and records").
    assert (record["state"], record["approved_by"]) == ("approved", manager.user_id)
    assert record["approved_at"]


def test_only_a_manager_approves_complaint_measures(users, admin, complaint):
    crm = users["crm"]
    (department,) = admin.model(
        "crm.department",
        "create",
        [{"company": admin.context["company"], "name": "Quality"}],
    )
    crm.model("crm.complaint", "acknowledge", [complaint])
    crm.model(
        "crm.complaint",
        "write",
        [complaint],
        {"responsible_department": department},
    )
    crm.model("crm.complaint", "investigate", [complaint])
    crm.model(
        "crm.complaint",
        "write",
        [complaint],
        {"cause_analysis": "Packing too thin.", "measures": "Replace panels."},
    )
    crm.model("crm.complaint", "submit", [complaint])

    for button in ["approve", "send_back"]:
        assert_no_button(refused(crm.model, "crm.complaint", button, [complaint]))
    error = refused(
        crm.model, "crm.complaint", "write", [complaint], {"state": "resolving"}
    )
    assert "cannot be written directly" in error.message
    (record,) = admin.read(
        "crm.complaint", [complaint], ["state", "approved_by", "approved_at"]
    )
    assert (record["state"], record["approved_by"], record["approved_at"]) == (
        "awaiting_approval",
        None,
        None,
    )

    manager = users["manager"]
    manager.model("crm.complaint", "approve", [complaint])
    (record,) = admin.read("crm.complaint", [complaint], ["state", "approved_by"])
    assert (record["state"], record["approved_by"]) == (
        "resolving",
        manager.user_id,
    )
    # Each state change is logged with who made it.
    logs = admin.search_read(
        "crm.complaint.log",
        [["complaint", "=", complaint]],
        ["from_state", "to_state", "user", "date"],
    )
    assert [(log["to_state"], log["user"]) for log in logs] == [
        ("received", admin.user_id),
        ("acknowledged", crm.user_id),
        ("investigating", crm.user_id),
        ("awaiting_approval", crm.user_id),
        ("resolving", manager.user_id),
    ]
    assert all(log["date"] for log in logs)


def test_the_sync_key_opens_no_json_rpc(erp, customer):
    url = f"{erp.url}/{erp.database}/rpc/"
    headers = {"Authorization": f"Bearer {erp.key}"}
    for method, params in [
        ("model.party.party.read", [[customer], ["name", "crm_tier"], {}]),
        ("model.crm.sales.summary.search_read", [[], 0, 10, None, ["id"], {}]),
        ("model.res.user.get_preferences", [True, {}]),
    ]:
        response = requests.post(
            url,
            json={"id": 1, "method": method, "params": params},
            headers=headers,
            timeout=TIMEOUT,
        )
        # 401 (no session) or an error member: never a result.
        assert response.status_code == 401 or "result" not in response.json()
    # The key does open its own route.
    response = requests.get(
        f"{erp.url}/{erp.database}/crm/sales/unmatched",
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
