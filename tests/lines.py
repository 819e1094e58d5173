"""Sales lines for the tests, and their totals computed independently of
the API's code (Decimal arithmetic on the lines as pushed)."""

from datetime import date
from decimal import Decimal
from typing import Any


def line(external_id: str = "SO-1-1", **values: Any) -> dict[str, Any]:
    result = {
        "external_id": external_id,
        "revision": 1,
        "customer": "C0001",
        "date": "2025-03-14",
        "quantity": "10",
        "amount": "1200.00",
        "cost": "800.00",
        "currency": "CNY",
        "product": "ELV-DOOR-01",
        "category": "doors",
        "status": "confirmed",
    }
    result.update(values)
    return result


def batch(source: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "lines": list(lines)}


def expected_totals(pushes: list[list[dict[str, Any]]]) -> dict:
    """The ERP's totals of a source after these accepted pushes, in order:
    the highest revision of each line counts, cancelled lines do not, and a
    key whose lines all stopped counting has zero totals."""
    current: dict[str, dict[str, Any]] = {}
    for lines in pushes:
        for item in lines:
            stored = current.get(item["external_id"])
            if stored is None or item.get("revision", 1) > stored.get("revision", 1):
                current[item["external_id"]] = item
    keys = set()
    totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for lines in pushes:
        for item in lines:
            keys.add((item["customer"], item["date"][:7], item["currency"]))
    for key in keys:
        totals[key] = {
            "revenue": Decimal("0.00"),
            "cost": Decimal("0.00"),
            "quantity": Decimal("0.0000"),
            "line_count": 0,
            "last_sale_date": None,
        }
    for item in current.values():
        if item.get("status", "confirmed") != "confirmed":
            continue
        total = totals[(item["customer"], item["date"][:7], item["currency"])]
        total["revenue"] += Decimal(item["amount"])
        total["cost"] += Decimal(item["cost"])
        total["quantity"] += Decimal(item["quantity"])
        total["line_count"] += 1
        if total["last_sale_date"] is None or item["date"] > total["last_sale_date"]:
            total["last_sale_date"] = item["date"]
    return totals


def erp_view(summaries: dict) -> dict:
    """The ERP's summaries in the shape of :func:`expected_totals`."""
    return {
        key: {
            "revenue": value["revenue"],
            "cost": value["cost"],
            "quantity": value["quantity"],
            "line_count": value["line_count"],
            "last_sale_date": (
                value["last_sale_date"][:10] if value["last_sale_date"] else None
            ),
        }
        for key, value in summaries.items()
    }


def today_plus(days: int) -> str:
    return date.fromordinal(date.today().toordinal() + days).isoformat()
