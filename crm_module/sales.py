import datetime as dt
import functools
from decimal import Decimal, InvalidOperation

from sql import Null
from sql.aggregate import Count, Max, Sum

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.rpc import RPC
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import month_add, sql_date
from .common import CustomerRecNameMixin
from .numeric import exact_sum, from_exact_sum
from .exceptions import SalesSummaryError

AMOUNT_DIGITS = (16, 2)
QUANTITY_DIGITS = (16, 4)
# Fields a sender gives for each (source, customer, month, currency) key.
TOTAL_FIELDS = ['revenue', 'cost', 'quantity', 'line_count', 'last_sale_date']


class SalesSummary(CustomerRecNameMixin, ModelSQL, ModelView):
    __name__ = 'crm.sales.summary'
    __string__ = "Monthly Sales Summary"
    # an unmatched summary has no party yet: its reference names it
    _rec_name_fields = ('customer_ref',)

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True,
        ondelete='CASCADE')
    source = fields.Char(
        "Source", required=True, readonly=True,
        help="The outside system that sent the sales.")
    customer_ref = fields.Char(
        "Customer Reference", required=True, readonly=True,
        help="The customer as the source names it: a party code or an "
        "identifier registered for the source.")
    party = fields.Many2One(
        'party.party', "Party", readonly=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Empty while no party matches the customer reference.")
    month = fields.Date("Month", required=True, readonly=True)
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True, readonly=True)
    revenue = fields.Numeric(
        "Revenue", digits=AMOUNT_DIGITS, required=True, readonly=True)
    cost = fields.Numeric(
        "Cost", digits=AMOUNT_DIGITS, required=True, readonly=True)
    margin = fields.Function(fields.Numeric(
            "Gross Margin", digits=AMOUNT_DIGITS), 'get_margin')
    quantity = fields.Numeric(
        "Quantity", digits=QUANTITY_DIGITS, required=True, readonly=True)
    line_count = fields.Integer("Sales Lines", required=True, readonly=True)
    last_sale_date = fields.Date("Last Sale", readonly=True)
    matched = fields.Function(
        fields.Boolean("Matched"), 'get_matched', searcher='search_matched')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_uniq',
                Unique(t, t.company, t.source, t.customer_ref, t.month,
                    t.currency),
                'crm_module.msg_sales_summary_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Equality()),
                    (t.month, Index.Range())),
                Index(t, (t.company, Index.Equality()),
                    (t.month, Index.Range())),
                Index(t, (t.customer_ref, Index.Equality()),
                    where=t.party == Null),
                })
        cls._order = [('month', 'DESC'), ('id', 'DESC')]
        cls.__rpc__.update({
                'upsert': RPC(readonly=False),
                })

    @classmethod
    def create(cls, vlist):
        # Summaries are absolute totals from the sync: only upsert, which
        # checks every row and matches the party, may store them.
        raise SalesSummaryError(gettext('crm_module.msg_sales_upsert_only'))

    @classmethod
    def write(cls, *args):
        raise SalesSummaryError(gettext('crm_module.msg_sales_upsert_only'))

    def get_margin(self, name):
        return self.revenue - self.cost

    def get_matched(self, name):
        return bool(self.party)

    @classmethod
    def search_matched(cls, name, clause):
        _, operator, value = clause
        matched = (operator == '=') == bool(value)
        return [('party', '!=' if matched else '=', None)]

    def get_rec_name(self, name):
        return '%s/%s %s' % (
            self.source, self.customer_ref, self.month.strftime('%Y-%m'))

    @classmethod
    def _parse_rows(cls, rows):
        """Check rows sent for an upsert and convert their values.

        Return the parsed rows and a list of errors, each a dict with the
        row index, the field and a message; all rows are checked so that a
        sender learns every mistake at once.
        """
        pool = Pool()
        Currency = pool.get('currency.currency')
        errors, parsed = [], []

        def error(index, field_name, message, **kwargs):
            errors.append({
                    'index': index, 'field': field_name,
                    'message': gettext('crm_module.' + message, **kwargs),
                    })

        if not isinstance(rows, list):
            return [], [{'index': None, 'field': 'rows',
                    'message': gettext('crm_module.msg_sales_rows_list')}]
        codes = {r.get('currency') for r in rows
            if isinstance(r, dict) and isinstance(r.get('currency'), str)}
        currencies = {c.code: c.id for c in Currency.search([
                    ('code', 'in', list(codes)),
                    ])}
        seen = {}
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                error(index, None, 'msg_sales_row_object')
                continue
            values = cls._parse_row(
                row, currencies, functools.partial(error, index))
            key = tuple(values.get(k) for k in [
                    'source', 'customer', 'month', 'currency'])
            if None not in key:
                if key in seen:
                    error(index, 'customer', 'msg_sales_row_duplicate',
                        other=seen[key])
                seen[key] = index
            parsed.append(values)
        return parsed, errors

    @classmethod
    def _parse_row(cls, row, currencies, error):
        """Return the values of one row, reporting each mistake with
        error(field, message, **values)"""
        values = {}
        for name in ['source', 'customer']:
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                error(name, 'msg_sales_row_required', field=name)
            else:
                values[name] = value.strip()
        month = row.get('month')
        try:
            month = _parse_month(month)
        except (TypeError, ValueError):
            error('month', 'msg_sales_row_month', value=month)
        else:
            values['month'] = month
        currency = row.get('currency')
        if not isinstance(currency, str) or currency not in currencies:
            error('currency', 'msg_sales_row_currency',
                value=currency)
        else:
            values['currency'] = currencies[currency]
        for name, digits in [
                ('revenue', AMOUNT_DIGITS), ('cost', AMOUNT_DIGITS),
                ('quantity', QUANTITY_DIGITS)]:
            value = _parse_decimal(row.get(name), digits[1])
            if value is None:
                error(name, 'msg_sales_row_decimal',
                    field=name, value=row.get(name), digits=digits[1])
            else:
                values[name] = value
        line_count = row.get('line_count')
        if (not isinstance(line_count, int) or isinstance(line_count, bool)
                or line_count < 0):
            error('line_count', 'msg_sales_row_line_count',
                value=line_count)
        else:
            values['line_count'] = line_count
        last_sale_date = row.get('last_sale_date')
        if last_sale_date is not None:
            try:
                last_sale_date = dt.date.fromisoformat(last_sale_date)
            except (TypeError, ValueError):
                error('last_sale_date', 'msg_sales_row_date',
                    value=last_sale_date)
            else:
                if isinstance(month, dt.date) and (
                        last_sale_date.replace(day=1) != month):
                    error('last_sale_date',
                        'msg_sales_row_date_month',
                        value=last_sale_date)
        values['last_sale_date'] = last_sale_date
        return values

    @classmethod
    def upsert(cls, rows):
        """Store absolute monthly totals keyed by
        (source, customer, month, currency) for the context company.

        The same totals sent twice change nothing and a later total
        replaces the earlier one, so a sender may always resend.
        Return counts of inserted, updated and unchanged rows and the
        customers of the rows that match no party yet, each with the count
        of its summaries that wait for a party.
        Raise one SalesSummaryError carrying every row error when a row is
        wrong: then nothing is stored.
        """
        cls._check_upsert()
        rows, errors = cls._parse_rows(rows)
        if errors:
            raise SalesSummaryError(gettext(
                    'crm_module.msg_sales_rows_invalid',
                    count=len(errors),
                    errors='\n'.join(
                        '%s %s: %s' % (e['index'], e['field'], e['message'])
                        for e in errors[:20])),
                row_errors=errors)
        return cls._upsert_parsed(rows)

    @classmethod
    def _check_upsert(cls):
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        User = pool.get('res.user')
        transaction = Transaction()
        # Raw SQL below skips the ORM's access check: the right to create
        # summaries (the sync group's) is the right to upsert them.
        ModelAccess.check(cls.__name__, 'create')
        company_id = transaction.context.get('company')
        if not company_id or (transaction.user
                and company_id not in User.get_companies()):
            raise SalesSummaryError(gettext('crm_module.msg_sales_no_company'))

    @classmethod
    def _upsert_parsed(cls, rows):
        """Upsert rows that _parse_rows returned without errors; the
        access and company checks of upsert must have passed."""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        company_id = transaction.context['company']

        references = {(r['source'], r['customer']) for r in rows}
        parties = cls.match_parties(references)
        existing = {}
        sources = sorted({r['source'] for r in rows})
        months = sorted({r['month'] for r in rows})
        columns = [table.id, table.source, table.customer_ref, table.month,
            table.currency, table.party] + [
            getattr(table, f) for f in TOTAL_FIELDS]
        for refs in grouped_slice(
                {r['customer'] for r in rows}, backend.MAX_QUERY_PARAMS):
            # The batch's sources and months keep the lookup on the unique
            # index instead of every month ever sent for these customers.
            cursor.execute(*table.select(*columns,
                    where=(table.company == company_id)
                    & table.source.in_(sources)
                    & table.customer_ref.in_(list(refs))
                    & table.month.in_(months)))
            for id_, source, ref, month, currency, party, *totals in cursor:
                existing[(source, ref, month, currency)] = (
                    id_, party, totals)

        now = dt.datetime.now()
        user = transaction.user
        to_insert, to_update, unchanged = [], [], 0
        for row in rows:
            key = (row['source'], row['customer'], row['month'],
                row['currency'])
            party = parties.get((row['source'], row['customer']))
            totals = [row[f] for f in TOTAL_FIELDS]
            if key in existing:
                id_, old_party, old_totals = existing[key]
                if (old_totals == totals
                        and (old_party or party) == old_party):
                    unchanged += 1
                else:
                    to_update.append((id_, old_party or party, totals))
            else:
                to_insert.append(
                    [company_id, *key, party, *totals, user, now])

        insert_columns = [table.company, table.source, table.customer_ref,
            table.month, table.currency, table.party] + [
            getattr(table, f) for f in TOTAL_FIELDS] + [
            table.create_uid, table.create_date]
        # One statement prepared once and run for every row (executemany)
        # costs less than building SQL per row or per slice.
        if to_insert:
            query, _ = tuple(table.insert(
                    insert_columns, [[0] * len(insert_columns)]))
            cursor.executemany(query, to_insert)
        update_columns = [table.party] + [
            getattr(table, f) for f in TOTAL_FIELDS] + [
            table.write_uid, table.write_date]
        if to_update:
            query, _ = tuple(table.update(
                    update_columns, [0] * len(update_columns),
                    where=table.id == 0))
            cursor.executemany(query, [
                    (party, *totals, user, now, id_)
                    for id_, party, totals in to_update])
        return {
            'inserted': len(to_insert),
            'updated': len(to_update),
            'unchanged': unchanged,
            'unmatched': cls.unmatched_customers(
                references - parties.keys()),
            }

    @classmethod
    def match_parties(cls, references):
        """Return a mapping of (source, customer reference) to party id.

        An identifier registered for the source wins over a party code.
        """
        pool = Pool()
        Party = pool.get('party.party')
        Identifier = pool.get('party.identifier')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        identifier = Identifier.__table__()

        references = set(references)
        codes = {ref for _, ref in references}
        by_code, by_identifier = {}, {}
        for sub_codes in grouped_slice(
                codes, backend.MAX_QUERY_PARAMS):
            sub_codes = list(sub_codes)
            cursor.execute(*party.select(party.code, party.id,
                    where=party.code.in_(sub_codes)
                    & (party.active == True)))  # noqa: E712
            by_code.update(cursor)
            cursor.execute(*identifier.select(
                    identifier.crm_source, identifier.code, identifier.party,
                    where=identifier.code.in_(sub_codes)
                    & (identifier.crm_source != Null)))
            for source, code, party_id in cursor:
                by_identifier[(source, code)] = party_id
        result = {}
        for source, ref in references:
            party_id = by_identifier.get((source, ref), by_code.get(ref))
            if party_id:
                result[(source, ref)] = party_id
        return result

    @classmethod
    def match_unmatched(cls):
        """Attach summaries waiting for a party to the party that now
        matches their customer reference"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        cursor.execute(*table.select(
                table.source, table.customer_ref,
                where=table.party == Null,
                group_by=[table.source, table.customer_ref]))
        references = set(cursor)
        if not references:
            return 0
        matched = cls.match_parties(references)
        for (source, ref), party_id in matched.items():
            cursor.execute(*table.update([table.party], [party_id],
                    where=(table.party == Null)
                    & (table.source == source)
                    & (table.customer_ref == ref)))
        return len(matched)

    @classmethod
    def unmatched_customers(cls, references=None):
        """Return the customer references of the context company whose
        summaries still wait for a party: dicts of the source, the customer
        and its count of summaries, sorted by source and customer; only
        those of the (source, customer reference) pairs of references if
        given"""
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        company_id = Transaction().context.get('company')
        where = (table.party == Null) & (table.company == company_id)

        def select(where):
            cursor.execute(*table.select(
                    table.source, table.customer_ref, Count(table.id),
                    where=where,
                    group_by=[table.source, table.customer_ref],
                    order_by=[table.source, table.customer_ref]))
            return [{'source': source, 'customer': ref, 'summaries': count}
                for source, ref, count in cursor]

        if references is None:
            return select(where)
        references = set(references)
        result = []
        for refs in grouped_slice(
                {ref for _, ref in references}, backend.MAX_QUERY_PARAMS):
            result.extend(u for u in select(
                    where & table.customer_ref.in_(list(refs)))
                if (u['source'], u['customer']) in references)
        return sorted(result, key=lambda u: (u['source'], u['customer']))

    @classmethod
    def company_totals(
            cls, company, first_month, last_month, parties=None,
            foreign_only=False):
        """Return per (party, month) the revenue, cost, sales lines and last
        sale date of the summaries from first_month to last_month in the
        company currency, and the missing rates as "CODE date" texts (the
        totals are empty while a rate is missing).

        A total in another currency is converted per party, currency and
        month at the rate of the month's last day and rounded to the cent
        of the company currency: the one rule by which every figure of the
        module converts sales. parties is a query of the party ids to keep;
        foreign_only keeps the summaries in other currencies only. The party
        of unmatched summaries is None.
        """
        summary = cls.__table__()
        cursor = Transaction().connection.cursor()
        currency = company.currency
        where = ((summary.company == company.id)
            & (summary.month >= first_month)
            & (summary.month <= last_month))
        if foreign_only:
            where &= summary.currency != currency.id
        if parties is not None:
            where &= summary.party.in_(parties)
        cursor.execute(*summary.select(
                summary.party, summary.currency, summary.month,
                exact_sum(summary.revenue), exact_sum(summary.cost),
                Sum(summary.line_count), Max(summary.last_sale_date),
                where=where,
                group_by=[summary.party, summary.currency, summary.month]))
        rows = [(party, currency_id, sql_date(month), from_exact_sum(revenue),
                from_exact_sum(cost), line_count or 0, sql_date(last_sale))
            for party, currency_id, month, revenue, cost, line_count,
            last_sale in cursor]
        rates, missing = _month_end_rates(currency, [
                (currency_id, month) for _, currency_id, month, *_ in rows
                if currency_id != currency.id])
        totals = {}
        if missing:
            return totals, missing
        for (party, currency_id, month, revenue, cost, line_count,
                last_sale) in rows:
            if currency_id != currency.id:
                rate = rates[currency_id, month]
                revenue = currency.round(revenue * rate)
                cost = currency.round(cost * rate)
            month_totals = totals.setdefault(
                (party, month), [Decimal(0), Decimal(0), 0, None])
            month_totals[0] += revenue
            month_totals[1] += cost
            month_totals[2] += line_count
            if last_sale and (
                    month_totals[3] is None or last_sale > month_totals[3]):
                month_totals[3] = last_sale
        return totals, missing


def _month_end_rates(currency, pairs):
    """Return the rates that convert amounts of (currency id, month) pairs
    into currency at the last day of each month, and the missing rates as
    "CODE date" texts; a pair without a rate is not in the rates."""
    Currency = Pool().get('currency.currency')
    rates, missing = {}, []
    for currency_id, month in sorted(set(pairs)):
        month_end = month_add(month, 1) - dt.timedelta(days=1)
        with Transaction().set_context(date=month_end):
            from_, to = Currency.browse([currency_id, currency.id])
            if not from_.rate or not to.rate:
                missing.append('%s %s' % (
                        (from_ if not from_.rate else to).code,
                        month_end.isoformat()))
            else:
                rates[currency_id, month] = to.rate / from_.rate
    return rates, missing


def _parse_month(value):
    "Return the first day of a 'YYYY-MM' month like strptime('%Y-%m')"
    # strptime costs tens of microseconds: the usual form is read by hand
    # and anything else still goes through strptime.
    if (isinstance(value, str) and len(value) == 7 and value[4] == '-'
            and value.isascii() and value[:4].isdigit()
            and value[5:].isdigit()):
        return dt.date(int(value[:4]), int(value[5:]), 1)
    return dt.datetime.strptime(value, '%Y-%m').date()


def _parse_decimal(value, digits):
    # Money travels as a decimal string: a JSON number is refused because
    # a float may already have lost the exact amount.
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number.as_tuple().exponent < -digits:
        return None
    if abs(number) >= Decimal(10) ** 14:
        return None
    return number

