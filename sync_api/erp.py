"""The only module that talks to the ERP (Tryton with crm_module).

:class:`ErpTransport` is the one transport: a ``requests.Session`` per
client, a timeout on every call, and every failure turned into
:class:`ErpError` (or its :class:`ErpRefused`). :class:`ErpClient` calls the
sales routes with a key of the ``crm_sync`` application
(crm_module/routes.py), :class:`ErpReportsClient` the report routes with a
key of the ``crm_reports`` application (crm_module/report_routes.py).
"""

import logging
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests

logger = logging.getLogger(__name__)
Transport = TypeVar("Transport", bound="ErpTransport")


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


class ErpRefused(ErpError):
    """The ERP answered with one of its own errors.

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
    """An answer of the ERP: its bytes (a report's JSON body, and what its
    ETag is computed from) and their parsed form."""

    raw: bytes
    data: dict[str, Any]


class ErpTransport:
    """One group of crm_module's routes, ``/<database>/crm/<routes>``,
    called with a bearer key of the group's ERP application."""

    routes = ""

    def __init__(self, url: str, database: str, key: str, timeout: float) -> None:
        self.base = f"{url.rstrip('/')}/{database}/crm/{self.routes}"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def __enter__(self: Transport) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, **kwargs: Any) -> ErpDocument:
        """The ERP's JSON object answering ``method path``; raise
        :class:`ErpError` for anything else."""
        try:
            response = self.session.request(
                method, self.base + path, timeout=self.timeout, **kwargs
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
        raise _refusal(response, data)


def _refusal(response: requests.Response, data: Any) -> ErpError:
    """The error of an ERP answer other than 200, parsed as ``data``."""
    status = response.status_code
    if isinstance(data, dict):
        # The sales route answers 422 {"errors": [{"index", "field",
        # "message"}]} when it refuses rows.
        if status == 422 and isinstance(data.get("errors"), list):
            errors = data["errors"]
            return ErpError(
                f"ERP refused {len(errors)} rows", status=422, row_errors=errors
            )
        # The report routes answer {"error", "message", "field"}.
        if "message" in data:
            return ErpRefused(
                str(data["message"]),
                status=status,
                code=data.get("error"),
                field=data.get("field"),
            )
    # trytond's own error pages (an unknown key, an error the route did not
    # turn into JSON) are HTML: only the log gets their text.
    logger.warning(
        "ERP answered HTTP %s to %s: %s", status, response.url, response.text[:200]
    )
    return ErpError(f"ERP answered HTTP {status}", status=status)


@dataclass(frozen=True)
class UnmatchedCustomer:
    """A customer reference whose totals wait in the ERP for a party."""

    source: str
    customer: str
    summaries: int


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int
    # The customers of the batch that match no party yet.
    unmatched: list[UnmatchedCustomer]


class ErpClient(ErpTransport):
    """The sales routes of crm_module, with a key of the ``crm_sync``
    application."""

    routes = "sales"

    def upsert_summaries(self, rows: list[dict[str, Any]]) -> UpsertResult:
        """Send absolute totals; the ERP stores all of them or none."""
        data = self.call("POST", "/summaries", json={"rows": rows}).data
        return UpsertResult(
            inserted=data["inserted"],
            updated=data["updated"],
            unchanged=data["unchanged"],
            unmatched=[
                UnmatchedCustomer(u["source"], u["customer"], u["summaries"])
                for u in data["unmatched"]
            ],
        )


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


class ErpReportsClient(ErpTransport):
    """The report routes of crm_module, with a key of the ``crm_reports``
    application: the ERP applies that key's user's access rights."""

    routes = "reports"

    def get(self, path: str, params: dict[str, Any] | None = None) -> ErpDocument:
        return self.call("GET", path, params=params)


def complaints_client(config: Any) -> "ErpComplaintsClient":
    """The client of the complaint routes, with the sync key."""
    return ErpComplaintsClient(
        config["ERP_URL"],
        config["ERP_DATABASE"],
        config["ERP_KEY"],
        config["ERP_TIMEOUT_SECONDS"],
    )


class ErpComplaintsClient(ErpTransport):
    """The complaint routes of crm_module, with a key of the ``crm_sync``
    application (the one the sales use)."""

    routes = "complaints"

    def intake(self, complaint: dict[str, Any]) -> dict[str, Any]:
        """Have the ERP create the complaint once: its answer ``{"status":
        "created" | "existing" | "unmatched", "number", "state",
        "outcome"}``; a 422 :class:`ErpRefused` names the field to correct."""
        return self.call("POST", "/intake", json=complaint).data

    def status(self, source: str, external_id: str) -> dict[str, Any]:
        """The ERP's number, state and outcome of a complaint it created."""
        path = "/intake/{}/{}".format(
            quote(source, safe=""), quote(external_id, safe="")
        )
        return self.call("GET", path).data
