"""What the users met in the demo's screens, in English and in Chinese:
lists that open on the work waiting, readable complaint forms and lists,
local times, read-only audit lists, and no English or internal codes left in
the Chinese interface. Each test does what the user did."""

import re
from datetime import datetime, timedelta

import pytest
from selenium.webdriver.common.by import By

from .sao import ACTIVE_TAB, BROWSER_TIME_ZONE, Sao, _literal, query

# The demo company works in Beijing time (UTC+8, no daylight saving).
BEIJING = timedelta(hours=8)
ACTIVE_DOMAIN_TAB = (
    f"{ACTIVE_TAB}//div[contains(@class, 'tab-domain')]"
    "//li[contains(@class, 'active')]/a"
)


@pytest.fixture
def computed_evaluation(admin, erp):
    """The id and name of an evaluation waiting for approval: the demo's, or
    a new one of the last calendar year if another test approved it"""
    rows = query(erp, "SELECT id, name FROM crm_evaluation WHERE state = 'computed'")
    if not rows:
        year = datetime.now().year - 1
        (evaluation_id,) = admin.model(
            "crm.evaluation",
            "create",
            [
                {
                    "company": admin.context["company"],
                    "name": f"Review {year}",
                    "period_type": "calendar",
                    "start_date": f"{year}-01-01",
                    "end_date": f"{year}-12-31",
                }
            ],
        )
        admin.model("crm.evaluation", "compute", [evaluation_id])
        rows = query(
            erp, "SELECT id, name FROM crm_evaluation WHERE id = ?", evaluation_id
        )
    return rows[0]


@pytest.fixture
def chinese_sao(browser, erp):
    "The web client of zhang, a CRM manager whose interface is in Chinese"
    sao = Sao(browser, erp)
    sao.login("zhang")
    return sao


def zh(erp, name, src):
    "The Chinese translation the ERP holds for a source text"
    (value,) = query(
        erp,
        "SELECT value FROM ir_translation WHERE lang = 'zh_CN' "
        "AND name = ? AND src = ? AND value != '' LIMIT 1",
        name,
        src,
    )[0]
    return value


def menu_path(erp, *names):
    return " / ".join(zh(erp, "ir.ui.menu,name", name) for name in names)


def wait_active_domain_tab(sao, name):
    "Wait until the list in front opens on its tab called name"
    sao.wait(
        lambda d: any(
            tab.text.split()[:1] == [name] for tab in sao.visible(ACTIVE_DOMAIN_TAB)
        ),
        f"the list did not open on its tab {name!r}",
    )


def wait_domain_tabs(sao, *names):
    "Wait until the list in front shows its tabs called names, in this order"

    def shown(driver):
        tabs = [
            words[0]
            for tab in sao.visible(
                f"{ACTIVE_TAB}//div[contains(@class, 'tab-domain')]//a[@role='tab']"
            )
            if (words := tab.text.split())
        ]
        return [tab for tab in tabs if tab in names] == list(names)

    sao.wait(shown, f"the list does not show the tabs {names}")


def headers(sao):
    "The visible column headers of the list in front, left to right"
    return sao.wait(
        lambda d: sao.visible(f"{ACTIVE_TAB}//table//thead//th[normalize-space(.)]"),
        "the list has no headers",
    )


def center_y(element):
    return element.rect["y"] + element.rect["height"] / 2


def test_lists_open_where_work_waits(sao, erp, computed_evaluation):
    _, evaluation_name = computed_evaluation
    sao.login("admin")
    sao.open_menu("Customer Relationship / Customer Evaluations")
    wait_active_domain_tab(sao, "Waiting")
    sao.wait_row(evaluation_name)

    (submitted,) = query(
        erp, "SELECT COUNT(*) FROM crm_account_plan WHERE state = 'submitted'"
    )[0]
    assert submitted, "the demo data should have a submitted plan"
    sao.open_menu("Customer Relationship / Account Plans")
    wait_active_domain_tab(sao, "Submitted")
    sao.wait(
        lambda d: len(sao.visible(f"{ACTIVE_TAB}//tbody/tr[td]//a")) >= submitted,
        "the submitted plans are not listed",
    )


def test_evaluation_review_shows_tiers_and_changes(sao, erp, computed_evaluation):
    evaluation_id, _ = computed_evaluation
    changed = {
        name
        for (name,) in query(
            erp,
            "SELECT p.name FROM crm_evaluation_line l "
            "JOIN party_party p ON p.id = l.party WHERE l.evaluation = ? "
            "AND (l.current_tier IS NULL "
            "OR l.current_tier != COALESCE(l.override_tier, l.proposed_tier))",
            evaluation_id,
        )
    }
    assert changed, "the demo evaluation should change some tiers"
    sao.login("admin")
    sao.open_record("crm.evaluation", evaluation_id)
    # The tiers stand next to the customer, inside the window.
    titles = [h.text for h in headers(sao)]
    party = titles.index("Party")
    assert titles[party + 1 : party + 4] == [
        "Current Tier",
        "Proposed Tier",
        "Override Tier",
    ]
    width = sao.driver.get_window_size()["width"]
    override = next(h for h in headers(sao) if h.text == "Override Tier")
    assert override.rect["x"] + override.rect["width"] <= width
    # The grid uses the height of the form: more than a dozen rows show.
    rows = sao.wait(
        lambda d: sao.visible(f"{ACTIVE_TAB}//tbody/tr[td and .//a]"), "no lines"
    )
    assert len(rows) >= 12

    sao.tab("Tier Changes")
    sao.wait_value("change_count", str(len(changed)))
    sao.wait(
        lambda d: (
            {
                a.text
                for a in sao.visible(
                    f"{ACTIVE_TAB}//div[contains(@class, 'active')]//tbody//td"
                    "[@data-title='Party: ']//a"
                )
            }
            == changed
        ),
        "the Tier Changes tab does not list the customers whose tier changes",
    )


def test_complaint_analysis_tab_layout(sao, erp):
    (complaint_id,) = query(
        erp,
        "SELECT id FROM crm_complaint WHERE state = 'resolving' "
        "AND cause_analysis IS NOT NULL ORDER BY id",
    )[0]
    sao.login("admin")
    sao.open_record("crm.complaint", complaint_id)
    sao.tab("Analysis and Measures")

    def label(text):
        return sao.wait_text(text)[-1]

    def field(name):
        return sao.wait(
            lambda d: sao.visible(f"//*[@name={_literal(name)}]"), f"no {name}"
        )[-1]

    # Each long text sits under its own heading, one per row.
    cause, measures = label("Cause Analysis"), label("Handling Measures")
    assert cause.rect["y"] < field("cause_analysis").rect["y"]
    assert field("cause_analysis").rect["y"] < measures.rect["y"]
    assert measures.rect["y"] < field("measures").rect["y"]
    # A label stands on the row of its own field.
    for text, name in [
        ("Handled First:", "handled_first"),
        ("Approved By:", "approved_by"),
        ("Approved At:", "approved_at"),
    ]:
        assert abs(center_y(label(text)) - center_y(field(name))) < 12, text
    assert field("approved_at").get_attribute("value"), "no approval time"


def test_complaint_list_fits_and_says_what_it_shows(chinese_sao, erp):
    sao = chinese_sao
    sao.open_menu(menu_path(erp, "Customer Relationship", "Complaints"))
    sao.wait(
        lambda d: sao.visible(f"{ACTIVE_TAB}//tbody/tr[td and .//a]"),
        "no complaint listed",
    )
    titles = [h.text for h in headers(sao)]
    assert len(titles) == len(set(titles)), titles
    for status in ["答复状态", "处理状态"]:
        assert status in titles
    width = sao.driver.get_window_size()["width"]
    state = headers(sao)[-1]
    assert state.text == zh(erp, "crm.complaint,state", "State")
    assert state.rect["x"] + state.rect["width"] <= width
    # A deadline is one column, to the minute.
    due = zh(erp, "crm.complaint,response_due", "Response Due")
    dues = [
        c.text
        for c in sao.visible(f"{ACTIVE_TAB}//td[@data-title='{due}: ']")
        if c.text
    ]
    assert dues, "no deadline shown"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", d) for d in dues), dues


def test_times_are_beijing_time_to_the_minute(sao, erp):
    assert query(erp, "SELECT timezone FROM company_company") == [(BROWSER_TIME_ZONE,)]
    (complaint_id, received) = query(
        erp,
        "SELECT id, received_at FROM crm_complaint WHERE state = 'resolving' "
        "ORDER BY id",
    )[0]
    stored = datetime.fromisoformat(received)
    sao.login("admin")
    sao.open_record("crm.complaint", complaint_id)
    # Stored in UTC, shown in Beijing time; its seconds count for the
    # time limits, so the server keeps them.
    shown = (stored + BEIJING).strftime("%m/%d/%Y %H:%M:%S")
    sao.wait_value("received_at", shown)

    # An approval stamp is shown to the minute.
    (evaluation_id, applied) = query(
        erp, "SELECT id, applied_at FROM crm_evaluation WHERE state = 'applied'"
    )[0]
    sao.open_record("crm.evaluation", evaluation_id)
    sao.tab("Approval")
    applied_at = datetime.fromisoformat(applied) + BEIJING
    sao.wait_value("applied_at", applied_at.strftime("%m/%d/%Y %H:%M"))
    assert sao.field_value("applied_at").strip() == applied_at.strftime(
        "%m/%d/%Y %H:%M"
    )


def test_chinese_interface_has_no_english_left(chinese_sao, erp):
    sao = chinese_sao
    sao.open_menu(
        menu_path(erp, "Customer Relationship", "Account Plans", "Account Plan Actions")
    )
    wait_domain_tabs(sao, "未完成", "全部")

    sao.open_menu(
        menu_path(erp, "Customer Relationship", "Reporting", "Visit Compliance")
    )
    wait_domain_tabs(sao, "全部")

    # Reminders made by the scheduled action speak the reader's language.
    sao.open_menu(menu_path(erp, "Customer Relationship", "Reminders"))
    column = zh(erp, "crm.reminder,description", "Description")
    cells = sao.wait(
        lambda d: [
            c.text
            for c in sao.visible(f"{ACTIVE_TAB}//td[@data-title='{column}: ']")
            if c.text
        ],
        "no reminder listed",
    )
    assert any(text.endswith("到期") for text in cells), cells
    assert not [t for t in cells if "due" in t or "Anniversary" in t], cells

    # Visit subjects carry no internal codes.
    codes = ["executive", "account_manager", "technical", "quality", "after_sales"]
    subjects = [subject for (subject,) in query(erp, "SELECT subject FROM crm_visit")]
    assert not [s for s in subjects if any(code in s for code in codes)]


def test_audit_lists_are_read_only(sao, erp):
    (party_id, reason) = query(
        erp,
        "SELECT party, reason FROM crm_tier_history WHERE reason IS NOT NULL "
        "ORDER BY id",
    )[0]
    sao.login("admin")
    sao.open_menu("Customer Relationship / Reporting / Tier History")
    (column,) = [h for h in headers(sao) if h.text == "Reason"]
    width = sao.driver.get_window_size()["width"]
    assert column.rect["x"] + column.rect["width"] <= width
    sao.wait_text(reason.splitlines()[0][:20])
    (new,) = sao.visible(f"{ACTIVE_TAB}//button[@id='new_']")
    assert not new.is_enabled()

    # On the customer, the history list offers neither New nor Delete.
    sao.open_record("party.party", party_id)
    sao.tab("Customer Relationship")
    sao.scroll_to("Tier History")
    panel = sao.wait(
        lambda d: sao.visible(
            "//div[contains(@class, 'form-one2many')]"
            "[.//label[normalize-space(.)='Tier History']]"
        ),
        "no tier history on the customer",
    )[-1]
    for title in ["New", "Delete"]:
        (button,) = panel.find_elements(By.XPATH, f".//button[@title='{title}']")
        assert not button.is_enabled(), title
