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


class ErpRefused(ErpError):
    """The ERP answered a report request with one of its own errors.

    ``code`` and ``field`` are the ERP's ``error`` and ``field`` members
    (crm_module/doc/report_routes.md): 400 a bad parameter, 403 the key's
    user may not read the figures, 404 an unknown evaluation, 409 nothing to
    report yet.
    """

    def __init__(
        self, message: str, status: int, code: str | None, field: str | None
    ) -> None:
        super().__init__(message, status=status)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class ErpDocument:
    """A report as the ERP sent it: its bytes (the API's JSON body, and what
    its ETag is computed from) and their parsed form."""

    raw: bytes
    data: dict[str, Any]


class ReportsNotConfigured(Exception):
    """The API has no key of the ERP's ``crm_reports`` application."""


def reports_client(config: Any) -> "ErpReportsClient":
    """The client of the report routes from the app's configuration."""
    if not config.get("ERP_REPORTS_KEY"):
        raise ReportsNotConfigured(
            "The API has no ERP key of the crm_reports application: set "
            "CRM_ERP_REPORTS_KEY."
        )
    return ErpReportsClient(
        config["ERP_URL"],
        config["ERP_DATABASE"],
        config["ERP_REPORTS_KEY"],
        config["ERP_TIMEOUT_SECONDS"],
    )


class ErpReportsClient:
    """The report routes of crm_module, with a key of the ``crm_reports``
    application: the ERP applies that key's user's access rights."""

    def __init__(self, url: str, database: str, key: str, timeout: float) -> None:
        self.base = f"{url.rstrip('/')}/{database}/crm/reports"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __enter__(self) -> "ErpReportsClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> ErpDocument:
        try:
            response = self.session.get(
                self.base + path, params=params, timeout=self.timeout
            )
        except requests.Timeout as error:
            raise ErpError(
                f"ERP unreachable: no answer within {self.timeout:g} s"
            ) from error
        except requests.RequestException as error:
            raise ErpError(f"ERP unreachable: {error.__class__.__name__}") from error
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200:
            if not isinstance(data, dict):
                raise ErpError("ERP answered with invalid JSON", status=200)
            return ErpDocument(raw=response.content, data=data)
        # The report routes answer {"error", "message", "field"}; a UserError
        # that reaches trytond's own handler gives {"status", "message", ...}.
        if isinstance(data, dict) and "message" in data:
            raise ErpRefused(
                str(data["message"]),
                status=response.status_code,
                code=data.get("error"),
                field=data.get("field"),
            )
        raise ErpError(
            f"ERP answered HTTP {response.status_code}", status=response.status_code
        )
