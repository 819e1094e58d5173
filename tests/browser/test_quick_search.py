"""Quick search by customer in the lists of the web client: part of a
customer's name typed into the search box of a list leaves the rows of that
customer only, in every list of what the company keeps per customer."""

from collections import Counter

import pytest

from .sao import ACTIVE_TAB

ROWS = (
    f"{ACTIVE_TAB}//table[contains(@class, 'tree')]/tbody"
    "/tr[not(contains(@class, 'more-row'))]"
)
MORE = f"{ACTIVE_TAB}//tr[contains(@class, 'more-row')]//button"

# The menu entry; the model of its list, the field path to the customer of
# a record, the domain of the list with the tab the user picks (the tabs
# with all records when the first tab shows a part); whether the rows show
# the customer's name (a plan action shows its plan in an optional column).
LISTS = [
    pytest.param(
        "Customer Relationship / Account Plans / Account Plan Actions",
        "crm.account.plan.action",
        "plan.party",
        [],
        "All",
        False,
        id="plan-actions",
    ),
    pytest.param(
        "Customer Relationship / Complaints / Complaint Escalations",
        "crm.complaint.escalation",
        "complaint.party",
        [],
        None,
        True,
        id="escalations",
    ),
    pytest.param(
        "Customer Relationship / Overdue Visits",
        "crm.visit.compliance",
        "party",
        [["overdue", "=", True]],
        None,
        True,
        id="overdue-visits",
    ),
    pytest.param(
        "Customer Relationship / Satisfaction Surveys",
        "crm.satisfaction",
        "party",
        [],
        None,
        True,
        id="surveys",
    ),
    pytest.param(
        "Customer Relationship / Reminders",
        "crm.reminder",
        "party",
        [],
        "All",
        True,
        id="reminders",
    ),
    pytest.param(
        "Customer Relationship / Customers to Re-contact",
        "crm.last_contact",
        "party",
        [["dormant", "=", True]],
        None,
        True,
        id="re-contact",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Monthly Sales",
        "crm.sales.summary",
        "party",
        [],
        None,
        True,
        id="monthly-sales",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Tier History",
        "crm.tier.history",
        "party",
        [],
        None,
        True,
        id="tier-history",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Evaluation Lines",
        "crm.evaluation.line",
        "party",
        [],
        None,
        True,
        id="evaluation-lines",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Complaint Ledger",
        "crm.complaint.ledger",
        "party",
        [],
        None,
        True,
        id="complaint-ledger",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Visit Compliance",
        "crm.visit.compliance",
        "party",
        [],
        "All",
        True,
        id="visit-compliance",
    ),
    pytest.param(
        "Customer Relationship / Reporting / Customer Last Contact",
        "crm.last_contact",
        "party",
        [],
        "All",
        True,
        id="last-contact",
    ),
    pytest.param(
        "Customer Relationship / Care Dates",
        "crm.care_date",
        "party",
        [],
        None,
        True,
        id="care-dates",
    ),
]


def customer_id(row, path):
    "The id of the customer at path in a row read over RPC"
    *relations, name = path.split(".")
    for relation in relations:
        row = row[relation + "."] or {}
    return row.get(name)


def searchable_customer(admin, model, customer, domain):
    """A customer listed in the list of model, with the fewest records, and
    the part of its name a user types: without the city and the company
    form when that part names no other party, else the whole name"""
    rows = admin.search_read(model, domain, [customer])
    counts = Counter(customer_id(row, customer) for row in rows)
    counts.pop(None, None)
    assert len(counts) >= 2, f"the demo should list two customers in {model}"
    for party_id, _ in sorted(counts.items(), key=lambda item: (item[1], item[0])):
        (party,) = admin.read("party.party", [party_id], ["name"])
        for text in [party["name"][2:6], party["name"]]:
            parties = admin.search_read(
                "party.party", [["rec_name", "ilike", f"%{text}%"]], ["id"]
            )
            if [p["id"] for p in parties] == [party_id]:
                return party, text
    pytest.fail(f"no customer of {model} has a name of its own")


def listed_ids(sao):
    "The ids of the records the list in front holds, once a list is open"
    ids = sao.driver.execute_script(
        "const tab = Sao.Tab.tabs.get_current();"
        "return tab && tab.screen ? tab.screen.group.map(r => r.id) : [];"
    )
    return sorted(ids)


def shown_rows(sao):
    "The texts of the rows the list in front shows, all of them"
    for button in sao.visible(MORE):
        button.click()
    if sao.visible(MORE):
        return None
    return [row.text for row in sao.visible(ROWS)]


@pytest.mark.parametrize(
    ("menu", "model", "customer", "domain", "tab", "names_customer"), LISTS
)
def test_quick_search_by_customer(
    sao, admin, menu, model, customer, domain, tab, names_customer
):
    party, text = searchable_customer(admin, model, customer, domain)
    expected = sorted(
        row["id"]
        for row in admin.search_read(
            model, [*domain, [customer, "=", party["id"]]], ["id"]
        )
    )
    sao.login("admin")
    sao.open_menu(menu)
    if tab:
        # the tabs of a list show a count after their name
        sao.click(
            f"{ACTIVE_TAB}//a[@role='tab'][normalize-space(text())='{tab}']",
            f"no tab {tab!r} in {menu}",
        )
    # Before the search, the list holds other customers' records too.
    sao.wait(
        lambda d: set(listed_ids(sao)) - set(expected),
        f"{menu} does not list other customers than {party['name']}",
    )

    sao.quick_search(text)
    sao.wait(
        lambda d: listed_ids(sao) == expected,
        f"searching {text!r} in {menu} did not list the records of "
        f"{party['name']} only: {expected}",
    )
    rows = sao.wait(lambda d: shown_rows(sao), f"{menu} did not show all its rows")
    assert len(rows) == len(expected)
    if names_customer:
        assert all(party["name"] in row for row in rows), rows
