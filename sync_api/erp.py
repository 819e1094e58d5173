"""The only module that talks to the ERP (Tryton with crm_module).

One ``requests.Session`` per client, a timeout on every call, and every
failure turned into :class:`ErpError`. The routes are crm_module's
(crm_module/routes.py), authenticated with a ``res.user.application`` key
of the ``crm_sync`` application.
"""

from dataclasses import dataclass
from typing import Any

import requests


class ErpError(Exception):
    """The ERP did not take a call.

    ``status`` is the HTTP status (None when the ERP was not reached);
    ``row_errors`` lists the ERP's errors by row index when it refused rows
    (422): the other rows of the batch are fine.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        row_errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.row_errors = row_errors or []

    @property
    def rejected_rows(self) -> bool:
        return self.status == 422


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int
    unmatched: list[tuple[str, str]]


class ErpClient:
    def __init__(self, url: str, database: str, key: str, timeout: float) -> None:
        self.base = f"{url.rstrip('/')}/{database}/crm/sales"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def close(self) -> None:
        self.session.close()

    def upsert_summaries(self, rows: list[dict[str, Any]]) -> UpsertResult:
        """Send absolute totals; the ERP stores all of them or none."""
        data = self._call("POST", "/summaries", json={"rows": rows})
        return UpsertResult(
            inserted=data["inserted"],
            updated=data["updated"],
            unchanged=data["unchanged"],
            unmatched=[(u["source"], u["customer"]) for u in data["unmatched"]],
        )

    def unmatched_customers(self) -> list[tuple[str, str, int]]:
        """The (source, customer, summary count) that match no party."""
        data = self._call("GET", "/unmatched")
        return [(u["source"], u["customer"], u["summaries"]) for u in data["unmatched"]]

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.session.request(
                method, self.base + path, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as error:
            raise ErpError(f"ERP unreachable: {error.__class__.__name__}") from error
        if response.status_code == 422:
            try:
                errors = response.json().get("errors") or []
            except ValueError:
                errors = []
            raise ErpError(
                f"ERP refused {len(errors)} rows", status=422, row_errors=errors
            )
        if response.status_code != 200:
            raise ErpError(
                f"ERP answered HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError as error:
            raise ErpError("ERP answered with invalid JSON", status=200) from error
