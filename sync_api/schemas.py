"""marshmallow schemas of every request and response body of the API.

Line validation reports every error with the line's index and the field;
the date range and the currency set come from the app's configuration, so
the line schema is built per app by :func:`make_line_schema`.
"""

import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from sync_api.models import (
    AMOUNT_DIGITS,
    CUSTOMER_LENGTH,
    EXTERNAL_ID_LENGTH,
    QUANTITY_DIGITS,
    SOURCE_LENGTH,
)
from sync_api.services.money import format_scaled, parse_scaled

STATUSES = ("confirmed", "cancelled")
# The ERP keeps amounts below 10 ** 14 with 2 decimals, quantities with 4
# (crm_module/sales.py); a larger value could never be summed there.
AMOUNT_INTEGER_DIGITS = 14
QUANTITY_INTEGER_DIGITS = 12
# Anchored at the end: validate.Regexp matches from the start only.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SOURCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# PostgreSQL text cannot hold NUL, and no database encoding holds a lone
# surrogate (JSON allows "\ud800"): refused as the sender's error, the same
# on every backend, instead of failing in the database with a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The largest revision the revision column holds (INTEGER on PostgreSQL).
MAX_REVISION = 2**31 - 1
# Line ids are at most BIGINT; a larger cursor cannot even be bound.
MAX_CURSOR = 2**63 - 1


def storable_text(value: str) -> None:
    if _UNSTORABLE.search(value):
        raise ValidationError(
            "Contains a NUL character or a lone surrogate, which cannot be stored."
        )


class DecimalString(fields.Field):
    """A decimal string in the body, a scaled integer once loaded."""

    default_error_messages = {  # noqa: RUF012 (marshmallow's own convention)
        "invalid": (
            "Not a decimal string with at most {digits} decimals "
            '(numbers and exponents are refused; send e.g. "1200.00").'
        ),
    }

    def __init__(self, digits: int, integer_digits: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.digits = digits
        self.integer_digits = integer_digits

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        scaled = (
            parse_scaled(value, self.digits, self.integer_digits)
            if isinstance(value, str)
            else None
        )
        if scaled is None:
            raise self.make_error("invalid", digits=self.digits)
        return scaled

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        return None if value is None else format_scaled(value, self.digits)


class StrictDate(fields.Date):
    """An ISO 8601 date in its extended form (2025-03-14), as a string only."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def date_in_range(earliest: date, max_future_days: int) -> Callable[[date], None]:
    def check(value: date) -> None:
        latest = date.today() + timedelta(days=max_future_days)
        if not earliest <= value <= latest:
            raise ValidationError(
                f"Date out of range: between {earliest.isoformat()} and "
                f"{latest.isoformat()}."
            )

    return check


def currency_in(codes: Iterable[str]) -> Callable[[str], None]:
    codes = frozenset(codes)

    def check(value: str) -> None:
        if value not in codes:
            raise ValidationError(f"Unknown currency code {value!r}.")

    return check


def make_line_schema(
    currencies: Iterable[str], earliest: date, max_future_days: int
) -> Schema:
    """A schema that loads a list of sales lines (``many=True``)."""

    class SalesLineSchema(Schema):
        external_id = fields.String(
            required=True,
            validate=[validate.Length(1, EXTERNAL_ID_LENGTH), storable_text],
        )
        revision = fields.Integer(
            strict=True, load_default=1, validate=validate.Range(1, MAX_REVISION)
        )
        customer = fields.String(
            required=True,
            validate=[validate.Length(1, CUSTOMER_LENGTH), storable_text],
        )
        date = StrictDate(
            required=True, validate=date_in_range(earliest, max_future_days)
        )
        quantity = DecimalString(
            QUANTITY_DIGITS, QUANTITY_INTEGER_DIGITS, required=True
        )
        amount = DecimalString(AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS, required=True)
        cost = DecimalString(AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS, required=True)
        currency = fields.String(required=True, validate=currency_in(currencies))
        product = fields.String(
            load_default=None,
            allow_none=True,
            validate=[validate.Length(max=128), storable_text],
        )
        category = fields.String(
            load_default=None,
            allow_none=True,
            validate=[validate.Length(max=128), storable_text],
        )
        status = fields.String(
            load_default="confirmed", validate=validate.OneOf(STATUSES)
        )

        @validates_schema
        def check_return(self, data: dict[str, Any], **kwargs: Any) -> None:
            # A return takes goods back and money back: both negative.
            quantity, amount = data.get("quantity"), data.get("amount")
            if quantity is not None and amount is not None and quantity * amount < 0:
                raise ValidationError(
                    "Quantity and amount have opposite signs; a return has "
                    "both negative.",
                    "amount",
                )

    return SalesLineSchema(many=True)


_LINE_FIELDS = frozenset(
    {
        "external_id",
        "revision",
        "customer",
        "date",
        "quantity",
        "amount",
        "cost",
        "currency",
        "product",
        "category",
        "status",
    }
)
_REQUIRED = ("external_id", "customer", "date", "quantity", "amount", "cost")


class FastLineLoader:
    """Loads valid batches several times faster than marshmallow.

    marshmallow's line schema is the contract and the one that explains
    errors; this loader only takes the common case, a batch without any
    error, and gives exactly what the schema would give (tests/test_schemas.py
    compares both). It is at least as strict: at the first doubt it returns
    None and the caller loads the batch with the schema, which reports every
    error with its index and field.
    """

    def __init__(
        self, currencies: Iterable[str], earliest: date, max_future_days: int
    ) -> None:
        self.currencies = frozenset(currencies)
        self.earliest = earliest
        self.max_future_days = max_future_days

    def load(self, lines: list[Any]) -> list[dict[str, Any]] | None:
        latest = date.today() + timedelta(days=self.max_future_days)
        loaded = []
        for line in lines:
            values = self._load_line(line, latest)
            if values is None:
                return None
            loaded.append(values)
        return loaded

    def _load_line(self, line: Any, latest: date) -> dict[str, Any] | None:
        if type(line) is not dict or not _LINE_FIELDS.issuperset(line):
            return None
        get = line.get
        external_id, customer = get("external_id"), get("customer")
        currency, raw_date = get("currency"), get("date")
        revision = get("revision", 1)
        status = get("status", "confirmed")
        product, category = get("product"), get("category")
        if not (
            type(external_id) is str
            and 0 < len(external_id) <= EXTERNAL_ID_LENGTH
            and type(customer) is str
            and 0 < len(customer) <= CUSTOMER_LENGTH
            and type(currency) is str
            and currency in self.currencies
            and type(revision) is int
            and 1 <= revision <= MAX_REVISION
            and status in STATUSES
            and (product is None or (type(product) is str and len(product) <= 128))
            and (category is None or (type(category) is str and len(category) <= 128))
            and type(raw_date) is str
            and _ISO_DATE.fullmatch(raw_date)
            and not _UNSTORABLE.search(
                f"{external_id}{customer}{product or ''}{category or ''}"
            )
        ):
            return None
        try:
            day = date.fromisoformat(raw_date)
        except ValueError:
            return None
        if not self.earliest <= day <= latest:
            return None
        quantity, amount, cost = get("quantity"), get("amount"), get("cost")
        if not (type(quantity) is str and type(amount) is str and type(cost) is str):
            return None
        quantity = parse_scaled(quantity, QUANTITY_DIGITS, QUANTITY_INTEGER_DIGITS)
        amount = parse_scaled(amount, AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS)
        cost = parse_scaled(cost, AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS)
        if quantity is None or amount is None or cost is None or quantity * amount < 0:
            return None
        return {
            "external_id": external_id,
            "revision": revision,
            "customer": customer,
            "date": day,
            "quantity": quantity,
            "amount": amount,
            "cost": cost,
            "currency": currency,
            "product": product,
            "category": category,
            "status": status,
        }


class RawList(fields.Field):
    """A JSON array whose items are loaded later (here: one by one with the
    line schema, so each error carries the line's index)."""

    default_error_messages = {"invalid": "Not a list."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value


class SalesBatchSchema(Schema):
    """The envelope of ``POST /api/v1/sales``; its lines are loaded apart,
    so that each error is reported with the line's index."""

    source = fields.String(
        required=True,
        validate=[
            validate.Length(1, SOURCE_LENGTH),
            validate.Regexp(SOURCE_PATTERN, error="Letters, digits, '.', '_', '-'."),
        ],
    )
    lines = RawList(required=True)


class PushResultSchema(Schema):
    source = fields.String()
    lines = fields.Integer()
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()


class SalesLineOutSchema(Schema):
    external_id = fields.String()
    revision = fields.Integer()
    source = fields.String()
    customer = fields.String()
    date = fields.Date()
    quantity = DecimalString(QUANTITY_DIGITS, QUANTITY_INTEGER_DIGITS)
    amount = DecimalString(AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS)
    cost = DecimalString(AMOUNT_DIGITS, AMOUNT_INTEGER_DIGITS)
    currency = fields.String()
    product = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    status = fields.String()
    received_at = fields.DateTime()


class SalesQuerySchema(Schema):
    source = fields.String(validate=storable_text)
    customer = fields.String(validate=storable_text)
    external_id = fields.String(validate=storable_text)
    # "from" is a Python keyword.
    date_from = fields.Date(data_key="from")
    date_to = fields.Date(data_key="to")
    cursor = fields.Integer(validate=validate.Range(0, MAX_CURSOR))
    limit = fields.Integer(validate=validate.Range(min=1))


class SalesPageSchema(Schema):
    lines = fields.List(fields.Nested(SalesLineOutSchema))
    next_cursor = fields.String(allow_none=True)


class UnmatchedCustomerSchema(Schema):
    source = fields.String()
    customer = fields.String()
    summaries = fields.Integer()
    seen_at = fields.DateTime()


class SyncStatusSchema(Schema):
    pending_keys = fields.Integer()
    rejected_keys = fields.Integer()
    oldest_pending_age_s = fields.Float(allow_none=True)
    last_success_at = fields.DateTime(allow_none=True)
    last_error_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    rows_sent = fields.Integer()
    unmatched_customers = fields.List(fields.Nested(UnmatchedCustomerSchema))


def flatten_line_errors(messages: dict[Any, Any]) -> list[dict[str, Any]]:
    """marshmallow's ``{index: {field: [message]}}`` as a flat list of
    ``{"index", "field", "message"}``, ordered by index."""
    errors = []
    for index, fields_ in sorted(
        messages.items(), key=lambda item: (not isinstance(item[0], int), item[0])
    ):
        if not isinstance(fields_, dict):
            # The line itself is not an object.
            errors.extend(
                {"index": index, "field": None, "message": message}
                for message in _messages(fields_)
            )
            continue
        for field_name, field_messages in fields_.items():
            field_name = None if field_name == "_schema" else field_name
            errors.extend(
                {"index": index, "field": field_name, "message": message}
                for message in _messages(field_messages)
            )
    return errors


def _messages(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for vs in value.values() for v in _messages(vs)]
    return [str(value)]
