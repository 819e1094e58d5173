"""marshmallow schemas of every request and response body of the API.

Line validation reports every error with the line's index and the field;
the date range and the currency set come from the app's configuration, so
the line schema is built per app by :func:`make_line_schema`. The line's
fields and their limits are those of ``sync_api.line_spec``.
"""

import re
from collections.abc import Callable, Container, Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from sync_api.complaint_spec import (
    CATEGORIES,
    CONTACT_LENGTH,
    DESCRIPTION_LENGTH,
    SEVERITIES,
)
from sync_api.line_spec import (
    CUSTOMER_LENGTH,
    EXTERNAL_ID_LENGTH,
    FIELD_NAMES,
    LINE_FIELDS,
    SOURCE_LENGTH,
    LineField,
)
from sync_api.services.clock import utcnow
from sync_api.services.money import format_scaled, parse_scaled

# Anchored at the end: validate.Regexp matches from the start only.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SOURCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# PostgreSQL text cannot hold NUL, and no database encoding holds a lone
# surrogate (JSON allows "\ud800"): refused as the sender's error, the same
# on every backend, instead of failing in the database with a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Line ids are at most BIGINT; a larger cursor cannot even be bound.
MAX_CURSOR = 2**63 - 1


def storable_text(value: str) -> None:
    if _UNSTORABLE.search(value):
        raise ValidationError(
            "Contains a NUL character or a lone surrogate, which cannot be stored."
        )


def signs_disagree(quantity: int, amount: int) -> bool:
    """A return takes goods back and money back: quantity and amount are
    both negative, never of opposite signs."""
    return quantity * amount < 0


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


class _LineChecks(Schema):
    """What a line's fields say together; the fields themselves come from
    ``LINE_FIELDS``."""

    @validates_schema
    def check_return(self, data: dict[str, Any], **kwargs: Any) -> None:
        quantity, amount = data.get("quantity"), data.get("amount")
        if (
            quantity is not None
            and amount is not None
            and signs_disagree(quantity, amount)
        ):
            raise ValidationError(
                "Quantity and amount have opposite signs; a return has both negative.",
                "amount",
            )


def make_line_schema(
    currencies: Iterable[str], earliest: date, max_future_days: int
) -> Schema:
    """A schema that loads a list of sales lines (``many=True``)."""
    checks = {
        "date": date_in_range(earliest, max_future_days),
        "currency": currency_in(currencies),
    }
    declared = {
        spec.name: _line_field(spec, checks.get(spec.kind)) for spec in LINE_FIELDS
    }
    return type("SalesLineSchema", (_LineChecks,), declared)(many=True)


def _line_field(spec: LineField, check: Callable[[Any], None] | None) -> fields.Field:
    """The marshmallow field that loads ``spec``; ``check`` is the app's
    check of a date or a currency."""
    options: dict[str, Any] = (
        {"required": True} if spec.required else {"load_default": spec.default}
    )
    if spec.kind == "text":
        return fields.String(
            allow_none=not spec.required,
            validate=[
                validate.Length(1 if spec.required else None, spec.max_length),
                storable_text,
            ],
            **options,
        )
    if spec.kind == "integer":
        return fields.Integer(
            strict=True, validate=validate.Range(spec.minimum, spec.maximum), **options
        )
    if spec.kind == "date":
        return StrictDate(validate=check, **options)
    if spec.kind == "decimal":
        return DecimalString(spec.digits, spec.integer_digits, **options)
    if spec.kind == "currency":
        return fields.String(validate=check, **options)
    if spec.kind == "choice":
        return fields.String(validate=validate.OneOf(spec.choices), **options)
    raise ValueError(f"Unknown kind of line field {spec.kind!r}.")


class _Invalid(Exception):
    """A value the fast loader leaves to the schema."""


# The default of a required field: it is never a valid value.
_MISSING = object()
Reader = Callable[[Any], Any]


class FastLineLoader:
    """Loads valid batches faster than marshmallow.

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
        readers = [
            (
                spec.name,
                _MISSING if spec.required else spec.default,
                self._reader(spec, latest),
            )
            for spec in LINE_FIELDS
        ]
        loaded = []
        try:
            for line in lines:
                if type(line) is not dict or not FIELD_NAMES.issuperset(line):
                    return None
                get = line.get
                # An absent field reads its default: a valid value for an
                # optional field, _MISSING for a required one.
                values = {
                    name: read(get(name, default)) for name, default, read in readers
                }
                if signs_disagree(values["quantity"], values["amount"]):
                    return None
                loaded.append(values)
        except _Invalid:
            return None
        return loaded

    def _reader(self, spec: LineField, latest: date) -> Reader:
        """A function that returns the loaded value of ``spec`` or raises
        :class:`_Invalid`: the checks of :func:`_line_field`, written for
        speed."""
        if spec.kind == "text":
            return _text_reader(spec)
        if spec.kind == "integer":
            return _member_reader(range(spec.minimum, spec.maximum + 1), int)
        if spec.kind == "date":
            return _date_reader(self.earliest, latest)
        if spec.kind == "decimal":
            return _decimal_reader(spec)
        if spec.kind == "currency":
            return _member_reader(self.currencies, str)
        return _member_reader(frozenset(spec.choices), str)


def _text_reader(spec: LineField) -> Reader:
    shortest = 1 if spec.required else 0
    longest = spec.max_length
    nullable = not spec.required
    unstorable = _UNSTORABLE.search

    def read_text(value: Any) -> str | None:
        if (
            type(value) is str
            and shortest <= len(value) <= longest
            and not unstorable(value)
        ):
            return value
        if value is None and nullable:
            return None
        raise _Invalid

    return read_text


def _decimal_reader(spec: LineField) -> Reader:
    digits, integer_digits = spec.digits, spec.integer_digits

    def read_decimal(value: Any) -> int:
        if type(value) is str:
            scaled = parse_scaled(value, digits, integer_digits)
            if scaled is not None:
                return scaled
        raise _Invalid

    return read_decimal


def _date_reader(earliest: date, latest: date) -> Reader:
    def read_date(value: Any) -> date:
        if type(value) is str and _ISO_DATE.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise _Invalid from None
            if earliest <= day <= latest:
                return day
        raise _Invalid

    return read_date


def _member_reader(members: Container[Any], kind: type) -> Reader:
    """Reads a value of type ``kind`` (exactly: a bool is no int) in
    ``members``."""

    def read_member(value: Any) -> Any:
        if type(value) is kind and value in members:
            return value
        raise _Invalid

    return read_member


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


def _output_field(spec: LineField) -> fields.Field:
    if spec.kind == "decimal":
        return DecimalString(spec.digits, spec.integer_digits)
    if spec.kind == "date":
        return fields.Date()
    if spec.kind == "integer":
        return fields.Integer()
    return fields.String()


# A stored line: the pushed fields, its source and when it was received.
SalesLineOutSchema = Schema.from_dict(
    {
        "source": fields.String(),
        **{spec.name: _output_field(spec) for spec in LINE_FIELDS},
        "received_at": fields.DateTime(),
    },
    name="SalesLineOutSchema",
)


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
    complaints_pending = fields.Integer()
    unmatched_complaints = fields.List(fields.Nested("UnmatchedComplaintSchema"))


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


class UtcDateTime(fields.Field):
    """An ISO 8601 date-time with its offset (``2026-03-14T09:30:00+08:00``
    or ``...Z``), loaded as naive UTC to the second, as the ERP stores it.
    A time without an offset is refused: it names no moment."""

    default_error_messages = {  # noqa: RUF012
        "invalid": "Not an ISO 8601 date-time with an offset (e.g. ...T09:30:00Z).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
            raise self.make_error("invalid")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:
            raise self.make_error("invalid")
        try:
            return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
        except OverflowError:
            raise self.make_error("invalid") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def received_in_range(earliest: date) -> Callable[[datetime], None]:
    def check(value: datetime) -> None:
        if value.date() < earliest:
            raise ValidationError(f"Before {earliest.isoformat()}.")
        if value > utcnow():
            raise ValidationError("In the future.")

    return check


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Blank.")


def _complaint_text(
    max_length: int, required: bool = True, blank: bool = False
) -> fields.String:
    checks: list[Callable[[str], None]] = [
        validate.Length(1 if required else None, max_length),
        storable_text,
    ]
    if required and not blank:
        checks.append(not_blank)
    if required:
        return fields.String(required=True, validate=checks)
    return fields.String(load_default=None, allow_none=True, validate=checks)


def make_complaint_schema(earliest: date) -> Schema:
    """The schema of ``POST /api/v1/complaints``; unknown fields are
    refused (marshmallow's default)."""
    declared: dict[str, fields.Field] = {
        "source": fields.String(
            required=True,
            validate=[
                validate.Length(1, SOURCE_LENGTH),
                validate.Regexp(
                    SOURCE_PATTERN, error="Letters, digits, '.', '_', '-'."
                ),
            ],
        ),
        "external_id": _complaint_text(EXTERNAL_ID_LENGTH),
        "customer": _complaint_text(CUSTOMER_LENGTH),
        "received_at": UtcDateTime(required=True, validate=received_in_range(earliest)),
        "category": fields.String(required=True, validate=validate.OneOf(CATEGORIES)),
        "severity": fields.String(
            load_default=None, allow_none=True, validate=validate.OneOf(SEVERITIES)
        ),
        "description": _complaint_text(DESCRIPTION_LENGTH),
        "contact": _complaint_text(CONTACT_LENGTH, required=False),
    }
    return Schema.from_dict(declared, name="ComplaintIntakeSchema")()


class ComplaintActionSchema(Schema):
    kind = fields.String()
    description = fields.String(allow_none=True)


class ComplaintOutcomeSchema(Schema):
    closed_at = fields.String(allow_none=True)
    actions = fields.List(fields.Nested(ComplaintActionSchema))
    actions_taken = fields.String(allow_none=True)
    satisfaction = fields.Integer(allow_none=True)


class ComplaintStatusSchema(Schema):
    source = fields.String()
    external_id = fields.String()
    customer = fields.String()
    received_at = UtcDateTime()
    category = fields.String()
    severity = fields.String(allow_none=True)
    status = fields.String()
    number = fields.String(allow_none=True)
    state = fields.String(attribute="erp_state", allow_none=True)
    outcome = fields.Dict(allow_none=True)
    last_error = fields.String(allow_none=True)


class UnmatchedComplaintSchema(Schema):
    source = fields.String()
    external_id = fields.String()
    customer = fields.String()
    received_at = UtcDateTime()
