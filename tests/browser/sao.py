"""What a user does in the Tryton web client (sao), for the browser tests."""

import itertools
import json
import sqlite3
import time
from contextlib import closing
from urllib.parse import quote

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

TIMEOUT = 30
# The demo's users work in Beijing, as its company does: the browser shows
# date-times in this time zone.
BROWSER_TIME_ZONE = "Asia/Shanghai"
# The tab in front: the others keep their toolbars in the page.
ACTIVE_TAB = "//div[@role='tabpanel' and contains(@class, 'active')]"


def _literal(text):
    "An XPath string literal for text"
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + text.replace("'", "', \"'\", '") + "')"


class Sao:
    def __init__(self, driver, erp):
        self.driver = driver
        self.erp = erp
        # A new URL each time: sao opens a tab on a change of the hash only
        self._tabs = itertools.count(1)

    def wait(self, condition, message, timeout=TIMEOUT):
        def check(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            check, message
        )

    def visible(self, xpath):
        return [
            element
            for element in self.driver.find_elements(By.XPATH, xpath)
            if element.is_displayed()
        ]

    def login(self, login, password=None):
        self.driver.get(self.erp.url + "/")
        field = self.wait(
            lambda d: self.visible("//input[@id='login']"), "no login form"
        )[0]
        field.clear()
        field.send_keys(login + Keys.ENTER)
        secret = self.wait(
            lambda d: self.visible("//input[@type='password']"),
            "no password field",
        )[0]
        secret.send_keys((password or self.erp.password) + Keys.ENTER)
        # The action search box of the header appears once logged in
        self.wait(
            lambda d: self.visible("//input[@id='global-search-entry']"),
            "the web client did not open after login",
        )

    def open_record(self, model, record_id):
        self.driver.get(
            f"{self.erp.url}/#{self.erp.database}/model/{model}/{record_id}"
        )
        self.wait(
            lambda d: self.visible("//div[contains(@class, 'form')]//label"),
            f"the form of {model} {record_id} did not open",
        )

    def logout(self):
        "Forget the session, so that the next login may be another user"
        self.driver.delete_all_cookies()
        self.driver.execute_script("localStorage.clear(); sessionStorage.clear();")
        self.driver.get("about:blank")

    def open_list(self, model, domain=None):
        "Open the list of a model, filtered by domain, in a new tab"
        params = {"name": json.dumps(f"{model} {next(self._tabs)}")}
        if domain is not None:
            params["domain"] = json.dumps(domain)
        query_ = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        self.driver.get(f"{self.erp.url}/#{self.erp.database}/model/{model};{query_}")

    def row_xpath(self, *texts):
        tests = " and ".join(
            f"contains(normalize-space(.), {_literal(text)})" for text in texts
        )
        return f"//tr[{tests}]"

    def rows(self, *texts):
        "The visible list rows that show every one of texts"
        return self.visible(self.row_xpath(*texts))

    def wait_row(self, *texts):
        return self.wait(
            lambda d: self.rows(*texts), f"no row showing {', '.join(texts)}"
        )

    def new_record(self):
        self.click(f"{ACTIVE_TAB}//button[@id='new_']", "no New button")
        self.wait(
            lambda d: self.visible("//div[contains(@class, 'form')]//label"),
            "the new record's form did not open",
        )

    def reload(self):
        "Read the records of the tab in front again, as its Reload button does"
        self.click(f"{ACTIVE_TAB}//button[@id='reload']", "no Reload button")

    def save(self):
        self.click(
            f"{ACTIVE_TAB}//button[@id='save' and not(@disabled)]", "no Save button"
        )

    def editable(self, name):
        "The editable input of a form field"

        def find(driver):
            return [
                element
                for element in self.visible(
                    "//*[self::input or self::textarea or self::select]"
                    f"[@name={_literal(name)}]"
                )
                if element.is_enabled() and not element.get_attribute("readonly")
            ]

        return self.wait(find, f"no editable field {name!r}")[-1]

    def fill(self, name, text):
        "Type text into a field in place of its value, then leave it"
        self.editable(name).click()
        # A number shows an input of its own once focused: find it again.
        element = self.editable(name)
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.DELETE)
        element.send_keys(text)
        element.send_keys(Keys.TAB)

    def choose(self, name, text):
        """Fill a many2one with the name of the record to link, picking it
        in the search dialog when the client opens one"""
        self.fill(name, text)
        row = (
            "//div[contains(@class, 'modal')]//tr"
            f"[.//td[normalize-space(.)={_literal(text)}]]"
        )

        def outcome(driver):
            if text in self.field_value(name):
                return "set"
            return "dialog" if self.visible(row) else False

        if self.wait(outcome, f"{text!r} could not be chosen in {name}") == "dialog":
            self.click(row, f"no {text!r} in the search dialog")
            self.confirm()
            self.wait_value(name, text)

    def select(self, name, label):
        Select(self.editable(name)).select_by_visible_text(label)

    def enabled_buttons(self, text):
        return self.visible(
            f"//button[normalize-space(.)={_literal(text)} and not(@disabled)]"
        )

    def click(self, xpath, message):
        def clicked(driver):
            # The newest first: the tabs behind keep copies of a toolbar,
            # some of them "displayed" with zero size.
            for element in reversed(self.visible(xpath)):
                try:
                    element.click()
                except (
                    ElementClickInterceptedException,
                    ElementNotInteractableException,
                ):
                    continue
                return True
            return False

        self.wait(clicked, message)

    def tab(self, text):
        self.click(
            f"//a[@role='tab' or parent::li][normalize-space(.)={_literal(text)}]",
            f"no tab {text!r}",
        )

    def button(self, text):
        self.click(
            f"//button[normalize-space(.)={_literal(text)} and not(@disabled)]",
            f"no enabled button {text!r}",
        )

    def confirm(self):
        "Answer OK to the confirmation dialog of a button"
        self.click(
            "//div[contains(@class, 'modal')]//button[normalize-space(.)='OK']",
            "no confirmation dialog",
        )

    def field_value(self, name):
        "The value a form field shows: its input's, text area's or select's"
        values = []
        for element in self.visible(
            f"//*[self::input or self::select or self::textarea]"
            f"[@name={_literal(name)}]"
        ):
            if element.tag_name == "select":
                selected = element.find_elements(
                    By.XPATH, ".//option[@selected or position()]"
                )
                values.extend(o.text for o in selected if o.is_selected())
            values.append(element.get_attribute("value") or "")
        return " ".join(values)

    def scroll_to(self, text):
        "Scroll the form until the element showing text is in view"
        element = self.wait_text(text)[-1]
        self.driver.execute_script("arguments[0].scrollIntoView();", element)

    def wait_text(self, text, message=None):
        return self.wait(
            lambda d: self.visible(
                f"//*[contains(normalize-space(.), {_literal(text)})]"
            ),
            message or f"{text!r} did not appear",
        )

    def wait_value(self, name, expected):
        self.wait(
            lambda d: expected in self.field_value(name),
            f"field {name} did not show {expected!r}",
        )

    def edit_cell(self, row_text, column, text):
        """Type text into the cell of an editable list: the row that shows
        row_text, the column headed column. A many2one picks the record in
        the search dialog when the client opens one."""
        row = f"//tbody/tr[.//*[@title={_literal(row_text)}]]"
        cell = f"{row}/td[@data-title={_literal(column + ': ')}]"
        # The first click selects the row, the second opens the editor.
        for _ in range(2):
            self.click(cell, f"no cell {column!r} in the row of {row_text!r}")
        editor = self.wait(
            lambda d: self.visible(f"{cell}//*[self::input or self::textarea]"),
            f"the cell {column!r} did not open for editing",
        )[0]
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(text)
        editor.send_keys(Keys.TAB)
        dialog = (
            "//div[contains(@class, 'modal')]//tr"
            f"[.//td[normalize-space(.)={_literal(text)}]]"
        )

        def outcome(driver):
            if self.visible(dialog):
                return "dialog"
            editors = self.visible(f"{cell}//*[self::input or self::textarea]")
            values = [e.get_attribute("value") for e in editors]
            shown = self.visible(f"{cell}//*[@title={_literal(text)}]")
            return "set" if shown or text in values else False

        if self.wait(outcome, f"{text!r} was not set in {column}") == "dialog":
            self.click(dialog, f"no {text!r} in the search dialog")
            self.confirm()

    def open_menu(self, path):
        """Open a menu entry, named by its path ("Customer Relationship /
        Reminders"), from the action search box of the header"""
        entry = self.wait(
            lambda d: self.visible("//input[@id='global-search-entry']"),
            "no action search box",
        )[0]
        entry.clear()
        entry.send_keys(path.rsplit(" / ", 1)[-1])
        self.click(
            "//*[contains(@class, 'global-search-text')]"
            f"[normalize-space(.)={_literal(path)}]",
            f"no menu entry {path!r} in the action search",
        )

    def quick_search(self, text):
        "Type text into the search box of the list in front and search"
        entry = self.wait(
            lambda d: self.visible(
                f"{ACTIVE_TAB}//form[contains(@class, 'filter-box')]"
                "//input[contains(@class, 'form-control')]"
            ),
            "no search box",
        )[-1]
        entry.send_keys(Keys.CONTROL, "a")
        entry.send_keys(Keys.DELETE)
        entry.send_keys(text + Keys.ENTER)


def query(erp, sql, *params):
    "Read the ERP's database directly, to check what the screens did"
    path = erp.database_path
    for _ in range(50):
        try:
            with closing(sqlite3.connect(path, timeout=10)) as connection:
                return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            time.sleep(0.2)
    raise RuntimeError(f"database busy: {sql}")
