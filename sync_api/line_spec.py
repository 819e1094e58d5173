"""The fields of a pushed sales line and their limits, written once.

The JSON line schema and the fast loader (``schemas.py``), the CSV reader
(``sales.py``), the ledger's columns (``models.py``) and what makes two
pushes of a line the same (``services/sales.py``) are all derived from
:data:`LINE_FIELDS`.
"""

from dataclasses import dataclass

# Money is kept in hundredths, quantities in ten-thousandths: the decimals
# the ERP keeps. The ERP checks the same limits on the totals it receives
# (crm_module/sales.py: amounts Numeric(16, 2) below 10 ** 14, quantities
# Numeric(16, 4)); a line beyond them could never be summed there.
AMOUNT_DIGITS = 2
AMOUNT_INTEGER_DIGITS = 14
QUANTITY_DIGITS = 4
QUANTITY_INTEGER_DIGITS = 12
# The ERP knows a currency by its three-letter ISO 4217 code and refuses a
# code it does not know (crm_module/sales.py), as the API does with its own
# set of codes.
CURRENCY_LENGTH = 3

SOURCE_LENGTH = 64
EXTERNAL_ID_LENGTH = 128
CUSTOMER_LENGTH = 64
# product, category
LABEL_LENGTH = 128
STATUSES = ("confirmed", "cancelled")
STATUS_LENGTH = 16
# The largest revision the revision column holds (INTEGER on PostgreSQL).
MAX_REVISION = 2**31 - 1


@dataclass(frozen=True)
class LineField:
    """A member of a line: its name, its kind and its limits.

    A required field has no default and, for text, at least one character;
    an optional one takes ``default`` when absent, and optional text may be
    null. Kinds: ``text`` (``max_length``), ``integer`` (``minimum`` to
    ``maximum``), ``date`` (ISO 8601), ``decimal`` (a decimal string of at
    most ``digits`` decimals and ``integer_digits`` integer digits, loaded
    as an integer of ``10 ** -digits``), ``currency`` (a code of the
    configured set), ``choice`` (one of ``choices``).
    """

    name: str
    kind: str
    required: bool = False
    default: object = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    digits: int = 0
    integer_digits: int = 0
    choices: tuple[str, ...] = ()


LINE_FIELDS = (
    LineField("external_id", "text", required=True, max_length=EXTERNAL_ID_LENGTH),
    LineField("revision", "integer", default=1, minimum=1, maximum=MAX_REVISION),
    LineField("customer", "text", required=True, max_length=CUSTOMER_LENGTH),
    LineField("date", "date", required=True),
    LineField(
        "quantity",
        "decimal",
        required=True,
        digits=QUANTITY_DIGITS,
        integer_digits=QUANTITY_INTEGER_DIGITS,
    ),
    LineField(
        "amount",
        "decimal",
        required=True,
        digits=AMOUNT_DIGITS,
        integer_digits=AMOUNT_INTEGER_DIGITS,
    ),
    LineField(
        "cost",
        "decimal",
        required=True,
        digits=AMOUNT_DIGITS,
        integer_digits=AMOUNT_INTEGER_DIGITS,
    ),
    LineField("currency", "currency", required=True),
    LineField("product", "text", max_length=LABEL_LENGTH),
    LineField("category", "text", max_length=LABEL_LENGTH),
    LineField("status", "choice", default="confirmed", choices=STATUSES),
)
FIELD_NAMES = frozenset(field.name for field in LINE_FIELDS)
# A line is known by its source and external id; every other field is its
# content: the same content pushed again changes nothing.
CONTENT_FIELDS = tuple(
    field.name for field in LINE_FIELDS if field.name != "external_id"
)
