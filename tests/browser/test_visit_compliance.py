"""A phone call is a contact, not a visit: a CRM user logs a phone contact
and then an on-site visit for an overdue key account in the web client, and
reads the compliance screens after each. The phone contact moves the
customer's last contact only; the on-site visit takes the customer out of
the overdue list and counts in the account manager's compliance for the
month. Each figure read on a screen is checked against the records over
JSON-RPC. The story runs in English and in Chinese."""

import datetime as dt
from decimal import Decimal

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

from tests.rpc import Rpc, make_user

from .sao import ACTIVE_TAB, _literal, query

LEVEL = "account_manager"
# The ways of contact the shipped policy counts, and one it does not.
PHONE, ON_SITE = "phone", "visit"
TABLIST = "//ul[@id='tablist']/li"
# A CRM user of each language of the demo (no manager)
USERS = {"en": "zhou", "zh_CN": "wu"}


@pytest.fixture(scope="module", params=sorted(USERS))
def visitor(request, erp, admin):
    "A CRM user whose interface is in the language of the run: its session"
    login = USERS[request.param]
    password = make_user(admin, login, ["CRM"], language=request.param)
    return login, password, Rpc(erp, login, password)


def rpc_date(value):
    return value and dt.date(value["year"], value["month"], value["day"])


def as_rpc(day):
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


def month_of(day):
    "The first and last days of the month of day"
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return start, end


class Labels:
    """What the screens of a user say, in the user's language, as the ERP
    translates it for the user's session"""

    def __init__(self, erp, rpc):
        self.rpc = rpc
        locale = rpc.context["locale"]
        self.date_format = locale["date"]
        self.decimal_point = locale["decimal_point"]
        self.ids = dict(
            query(
                erp,
                "SELECT fs_id, db_id FROM ir_model_data WHERE module = 'crm_module' "
                "AND fs_id IN (?, ?, ?, ?, ?)",
                "menu_visit_form",
                "menu_visit_compliance",
                "menu_visit_compliance_manager",
                "act_visit_compliance_domain_overdue",
                "act_visit_compliance_domain_all",
            )
        )
        self.fields = {
            model: rpc.model(model, "fields_get", [])
            for model in [
                "crm.visit",
                "crm.visit.compliance",
                "crm.visit.compliance.manager",
            ]
        }

    def menu(self, fs_id):
        (menu,) = self.rpc.read("ir.ui.menu", [self.ids[fs_id]], ["complete_name"])
        return menu["complete_name"]

    def domain_tab(self, fs_id):
        "The name of a tab of the Visit Compliance list"
        (tab,) = self.rpc.read(
            "ir.action.act_window.domain", [self.ids[fs_id]], ["name"]
        )
        return tab["name"]

    def column(self, model, field):
        return self.fields[model][field]["string"]

    def selection(self, model, field, value):
        return dict(self.fields[model][field]["selection"])[value]

    def date(self, day):
        return day.strftime(self.date_format) if day else ""

    def rate(self, value):
        "A compliance percentage as the lists show it: two decimals"
        return f"{Decimal(value['decimal']):.2f}".replace(".", self.decimal_point)


# --- what the user does and reads in the web client -----------------------


def close_tab(sao):
    "Close the tab in front, so that the next screen is read afresh"
    count = len(sao.driver.find_elements(By.XPATH, TABLIST))
    sao.click(
        f"{TABLIST}[contains(@class, 'active')]//button[contains(@class, 'close')]",
        "no Close button on the tab in front",
    )
    sao.wait(
        lambda d: len(d.find_elements(By.XPATH, TABLIST)) < count,
        "the tab did not close",
    )


def row_cells(row):
    "The texts of a list row by column title; a check box is True or False"
    cells = {}
    for cell in row.find_elements(By.XPATH, "./td[@data-title]"):
        title = cell.get_attribute("data-title").removesuffix(": ")
        boxes = cell.find_elements(By.XPATH, ".//input[@type='checkbox']")
        cells[title] = boxes[0].is_selected() if boxes else cell.text.strip()
    return cells


def shown_rows(sao, *texts, scope=ACTIVE_TAB):
    return [row_cells(row) for row in sao.visible(scope + sao.row_xpath(*texts))]


def wait_shown(sao, read, expected, message):
    """Wait until read() returns expected (the figures the ERP holds): what
    the screen showed last is in the failure"""
    try:
        return sao.wait(lambda d: read() == expected and expected, message)
    except TimeoutException:
        assert read() == expected, message
        raise


def figures(cells, titles):
    return {key: cells.get(title) for key, title in titles.items()}


def compliance_titles(labels):
    model = "crm.visit.compliance"
    return {
        key: labels.column(model, key)
        for key in ["last_visit", "next_due", "overdue_days", "overdue"]
    }


def manager_titles(labels):
    model = "crm.visit.compliance.manager"
    return {key: labels.column(model, key) for key in ["required", "done", "rate"]}


def tab_counter(sao, name):
    "The count the domain tab called name shows, None until it is counted"
    badges = sao.visible(
        f"{ACTIVE_TAB}//div[contains(@class, 'tab-domain')]//a[@role='tab']"
        f"[normalize-space(text()[1])={_literal(name)}]"
        "/span[contains(@class, 'badge')]"
    )
    return badges[0].get_attribute("title") if badges else None


def read_compliance(sao, labels, customer, expected):
    """Open Visit Compliance, search the customer and read its row of the
    level on the Overdue tab, or on the All tab when it left the first"""
    model = "crm.visit.compliance"
    overdue_tab = labels.domain_tab("act_visit_compliance_domain_overdue")
    all_tab = labels.domain_tab("act_visit_compliance_domain_all")
    key = {
        labels.column(model, "party"): customer["name"],
        labels.column(model, "level"): labels.selection(model, "level", LEVEL),
    }
    titles = compliance_titles(labels)

    def read():
        "The figures of the rows of the customer's level"
        return [
            figures(cells, titles)
            for cells in shown_rows(sao, *key.values())
            if all(cells.get(title) == text for title, text in key.items())
        ]

    sao.open_menu(labels.menu("menu_visit_compliance"))
    sao.quick_search(customer["name"])
    # The Overdue tab counts the customer's overdue levels once searched.
    wait_shown(
        sao,
        lambda: tab_counter(sao, overdue_tab),
        str(customer["overdue_levels"]()),
        "the Overdue tab does not count the customer's overdue levels",
    )
    if expected["overdue"]:
        message = "the Overdue tab does not show the customer's level as the ERP has it"
    else:
        assert not read(), "the customer's level is still on the Overdue tab"
        sao.click(
            f"{ACTIVE_TAB}//div[contains(@class, 'tab-domain')]//a[@role='tab']"
            f"[normalize-space(text()[1])={_literal(all_tab)}]",
            "no All tab",
        )
        message = "the All tab does not show the customer's level as the ERP has it"
    (shown,) = wait_shown(sao, read, [expected], message)
    close_tab(sao)
    return shown


def read_manager(sao, labels, manager, period, expected):
    """Open Visit Compliance by Responsible for the period and read the row
    of the account manager's own levels"""
    model = "crm.visit.compliance.manager"
    employee = labels.column(model, "employee")
    unassigned = labels.column(model, "unassigned")
    titles = manager_titles(labels)

    def read():
        return [
            figures(cells, titles)
            for cells in shown_rows(sao, manager)
            if cells.get(employee) == manager and cells.get(unassigned) is False
        ]

    sao.open_menu(labels.menu("menu_visit_compliance_manager"))
    start, end = period
    sao.fill("from_date", labels.date(start))
    sao.fill("to_date", labels.date(end))
    sao.wait_value("to_date", labels.date(end))
    # The list reads the period of its context form when it searches again.
    sao.reload()
    (shown,) = wait_shown(
        sao, read, [expected], "the manager's figures for the month are not the ERP's"
    )
    close_tab(sao)
    return shown


def read_last_contact(sao, party_id):
    "The Last Contact the customer's form shows on its tab"
    sao.open_record("party.party", party_id)
    (pane,) = sao.driver.find_elements(
        By.XPATH,
        "//div[contains(@class, 'tab-pane')]"
        "[.//*[@name='crm_last_contact']]"
        "[not(.//div[contains(@class, 'tab-pane')][.//*[@name='crm_last_contact']])]",
    )
    sao.click(f"//a[@href='#{pane.get_attribute('id')}']", "no tab of Last Contact")
    sao.wait(
        lambda d: sao.visible("//*[@name='crm_last_contact']"),
        "the Last Contact field did not show",
    )
    value = sao.field_value("crm_last_contact").strip()
    close_tab(sao)
    return value


def choose(sao, name, text):
    """Fill a many2one with the name of the record to link, picking it in
    the search dialog when the client opens one: Sao.choose, but with the
    dialog's OK button found in any language"""
    sao.fill(name, text)
    modal = "//div[contains(@class, 'modal')]"
    row = f"{modal}//tr[.//td[normalize-space(.)={_literal(text)}]]"

    def outcome(driver):
        if text in sao.field_value(name):
            return "set"
        return "dialog" if sao.visible(row) else False

    if sao.wait(outcome, f"{text!r} could not be chosen in {name}") == "dialog":
        sao.click(row, f"no {text!r} in the search dialog")
        sao.click(
            f"{modal}//button[contains(@class, 'btn-primary')]",
            "no OK button in the search dialog",
        )
        sao.wait_value(name, text)


def log_contact(sao, labels, erp_visits, customer, today, way, subject):
    "Log a contact of the level with the customer in the Visits form"
    sao.open_menu(labels.menu("menu_visit_form"))
    sao.new_record()
    choose(sao, "party", customer["name"])
    sao.fill("date", labels.date(today))
    sao.select("level", labels.selection("crm.visit", "level", LEVEL))
    sao.select("way", labels.selection("crm.visit", "way", way))
    sao.fill("subject", subject)
    sao.save()
    sao.wait(
        lambda d: [v["subject"] for v in erp_visits(way)] == [subject],
        f"the {way} contact was not saved",
    )
    close_tab(sao)


# --- what the ERP holds ---------------------------------------------------


def overdue_customer(admin, today):
    """A strategic or key customer overdue for its account manager's visit,
    whose last contact is before today and whose name no other party's
    contains (picked by name in the screens), with its compliance row"""
    rows = admin.search_read(
        "crm.visit.compliance",
        [
            ["level", "=", LEVEL],
            ["overdue", "=", True],
            ["account_manager", "!=", None],
            ["tier.code", "in", ["strategic", "key"]],
        ],
        ["party", "account_manager", "account_manager.rec_name"],
    )
    parties = {
        p["id"]: p
        for p in admin.read(
            "party.party", [r["party"] for r in rows], ["name", "crm_last_contact"]
        )
    }
    for row in rows:
        party = parties[row["party"]]
        last_contact = rpc_date(party["crm_last_contact"])
        if last_contact and last_contact >= today:
            continue
        others = admin.search_read(
            "party.party",
            [["name", "ilike", f"%{party['name']}%"], ["active", "in", [True, False]]],
            ["id"],
        )
        if len(others) == 1:
            return row, party
    pytest.fail("the demo data should have an overdue key account to visit")


def erp_compliance(admin, row_id):
    (row,) = admin.read(
        "crm.visit.compliance",
        [row_id],
        ["last_visit", "next_due", "overdue_days", "overdue"],
    )
    return row


def erp_manager(admin, employee, period):
    "The figures of the employee's own levels for the period, over RPC"
    start, end = period
    context = dict(admin.context, from_date=as_rpc(start), to_date=as_rpc(end))
    (row,) = admin.call(
        "model.crm.visit.compliance.manager.search_read",
        [["employee", "=", employee], ["unassigned", "=", False]],
        0,
        None,
        None,
        ["required", "done", "rate"],
        context,
    )
    return row


def test_phone_contact_is_no_visit_but_an_on_site_visit_is(sao, erp, admin, visitor):
    login, password, rpc = visitor
    labels = Labels(erp, rpc)
    today = rpc_date(admin.call("model.ir.date.today", admin.context))
    month = month_of(today)
    row, party = overdue_customer(admin, today)
    manager = row["account_manager."]["rec_name"]
    customer = {
        "name": party["name"],
        "overdue_levels": lambda: len(
            admin.search_read(
                "crm.visit.compliance",
                [["party", "=", party["id"]], ["overdue", "=", True]],
                ["id"],
            )
        ),
    }

    def erp_visits(way):
        return admin.search_read(
            "crm.visit",
            [
                ["party", "=", party["id"]],
                ["level", "=", LEVEL],
                ["way", "=", way],
                ["date", "=", as_rpc(today)],
            ],
            ["subject"],
        )

    def shown_compliance():
        erp_row = erp_compliance(admin, row["id"])
        expected = {
            "last_visit": labels.date(rpc_date(erp_row["last_visit"])),
            "next_due": labels.date(rpc_date(erp_row["next_due"])),
            "overdue_days": str(erp_row["overdue_days"]),
            "overdue": erp_row["overdue"],
        }
        return erp_row, read_compliance(sao, labels, customer, expected)

    def shown_manager():
        erp_row = erp_manager(admin, row["account_manager"], month)
        expected = {
            "required": str(erp_row["required"]),
            "done": str(erp_row["done"]),
            "rate": labels.rate(erp_row["rate"]),
        }
        return erp_row, read_manager(sao, labels, manager, month, expected)

    sao.login(login, password)

    # 1. Overdue for the account manager's monthly visit: no visit this
    # month, so the month's window is required and not done.
    compliance, compliance_shown = shown_compliance()
    assert compliance["overdue"]
    assert compliance["overdue_days"] > 0
    assert compliance_shown["overdue"] is True
    figures_before, manager_shown = shown_manager()
    assert figures_before["required"] > figures_before["done"]
    last_contact_before = read_last_contact(sao, party["id"])
    assert last_contact_before == labels.date(rpc_date(party["crm_last_contact"]))
    assert last_contact_before != labels.date(today)

    # 2. A phone call is logged: a contact, not a visit.
    log_contact(
        sao, labels, erp_visits, customer, today, PHONE, "Phone call on open orders"
    )
    assert read_last_contact(sao, party["id"]) == labels.date(today)
    (contacted,) = admin.read("party.party", [party["id"]], ["crm_last_contact"])
    assert rpc_date(contacted["crm_last_contact"]) == today
    after_phone, compliance_after_phone = shown_compliance()
    assert after_phone == compliance
    assert compliance_after_phone == compliance_shown
    figures_after_phone, manager_after_phone = shown_manager()
    assert figures_after_phone == figures_before
    assert manager_after_phone == manager_shown

    # 3. An on-site visit is logged: it counts.
    log_contact(
        sao, labels, erp_visits, customer, today, ON_SITE, "Review of the open orders"
    )
    visited, compliance_visited = shown_compliance()
    assert rpc_date(visited["last_visit"]) == today
    assert rpc_date(visited["next_due"]) > today
    assert (visited["overdue"], visited["overdue_days"]) == (False, 0)
    assert compliance_visited["overdue"] is False
    assert compliance_visited["last_visit"] == labels.date(today)
    figures_visited, manager_visited = shown_manager()
    assert figures_visited["required"] == figures_before["required"]
    assert figures_visited["done"] == figures_before["done"] + 1
    assert Decimal(figures_visited["rate"]["decimal"]) > Decimal(
        figures_before["rate"]["decimal"]
    )
    assert int(manager_visited["done"]) == int(manager_shown["done"]) + 1
