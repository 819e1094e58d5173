"""A JSON-RPC session of one ERP user, opened the way the web client
opens it, for the tests that check what a user may do over RPC."""

import base64
import itertools
import secrets

import requests

TIMEOUT = 30


def make_user(admin, login, group_names, language="en"):
    """Create a user of the admin's company in the named groups; return
    its password."""
    company = admin.context["company"]
    groups = admin.search_read("res.group", [["name", "in", group_names]], ["id"])
    (lang,) = admin.search_read("ir.lang", [["code", "=", language]], ["id"])
    password = "Tests-" + secrets.token_hex(10)
    admin.model(
        "res.user",
        "create",
        [
            {
                "name": login.title(),
                "login": login,
                "password": password,
                "language": lang["id"],
                "groups": [["add", [group["id"] for group in groups]]],
                "companies": [["add", [company]]],
                "company": company,
            }
        ],
    )
    return password


class RpcError(Exception):
    def __init__(self, error):
        super().__init__(error)
        # UserError and its subclasses (AccessError, AccessButtonError) all
        # travel as "UserError": the message tells them apart.
        self.kind = error[0]
        self.message = error[1][0] if error[1] else ""


class Rpc:
    """A JSON-RPC session of one user, as sao opens it."""

    ids = itertools.count(1)

    def __init__(self, erp, login, password):
        self.url = f"{erp.url}/{erp.database}/rpc/"
        self.http = requests.Session()
        user_id, token = self.call("common.db.login", login, {"password": password})[:2]
        credentials = f"{login}:{user_id}:{token}".encode()
        self.http.headers["Authorization"] = (
            "Session " + base64.b64encode(credentials).decode()
        )
        self.user_id = user_id
        self.context = self.call("model.res.user.get_preferences", True, {})

    def call(self, method, *params):
        response = self.http.post(
            self.url,
            json={"id": next(self.ids), "method": method, "params": list(params)},
            timeout=TIMEOUT,
        )
        response.raise_for_status()
        document = response.json()
        if document.get("error"):
            raise RpcError(document["error"])
        return document["result"]

    def model(self, model, method, *params):
        return self.call(f"model.{model}.{method}", *params, self.context)

    def search_read(self, model, domain, fields):
        return self.model(model, "search_read", domain, 0, None, None, fields)

    def read(self, model, ids, fields):
        return self.model(model, "read", ids, fields)


def rpc_date(day):
    "A date as Tryton's JSON-RPC carries it"
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


def rpc_datetime(moment):
    "A naive UTC date-time as Tryton's JSON-RPC carries it"
    return {
        "__class__": "datetime",
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
        "second": moment.second,
        "microsecond": 0,
    }


def from_rpc_datetime(value):
    "The naive date-time of a JSON-RPC datetime object"
    from datetime import datetime

    return datetime(
        value["year"],
        value["month"],
        value["day"],
        value["hour"],
        value["minute"],
        value["second"],
    )


def rpc_now(minutes_ago=1):
    "The server's now as a naive UTC date-time, a little in the past"
    from datetime import datetime, timedelta, timezone

    moment = datetime.now(timezone.utc).replace(tzinfo=None)
    return rpc_datetime(moment - timedelta(minutes=minutes_ago))


def rpc_decimal(text):
    "A decimal as Tryton's JSON-RPC carries it"
    return {"__class__": "Decimal", "decimal": text}
