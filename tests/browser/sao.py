"""What a user does in the Tryton web client (sao), for the browser tests."""

import sqlite3
import time
from contextlib import closing

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 30


def _literal(text):
    "An XPath string literal for text"
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + text.replace("'", "', \"'\", '") + "')"


class Sao:
    def __init__(self, driver, erp):
        self.driver = driver
        self.erp = erp

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

    def click(self, xpath, message):
        def clicked(driver):
            elements = self.visible(xpath)
            if not elements:
                return False
            try:
                elements[-1].click()
            except ElementClickInterceptedException:
                return False
            return True

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
        "The value a form field shows: its input's or its select's"
        values = []
        for element in self.visible(
            f"//*[self::input or self::select][@name={_literal(name)}]"
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
