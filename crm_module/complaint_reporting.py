"""The complaint ledger (投诉台账): the figures of the complaints by month,
category, severity, department and customer, as a screen and as the
finance report route /complaints."""
import datetime as dt

from sql import Literal, Null
from sql.aggregate import Avg, Count, Min, Sum
from sql.conditionals import Case, NullIf
from sql.functions import DateTrunc

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import sql_date
from .common import CustomerRecNameMixin
from .reporting import check_report_access, report_decimal
from .complaint import CATEGORIES, SEVERITIES


class ComplaintLedger(CustomerRecNameMixin, ModelSQL, ModelView):
    "Complaint ledger analysis (投诉台账)"
    __name__ = 'crm.complaint.ledger'
    __string__ = "Complaint Ledger"

    company = fields.Many2One('company.company', "Company", readonly=True)
    month = fields.Date("Month", readonly=True)
    category = fields.Selection(CATEGORIES, "Category", readonly=True)
    severity = fields.Selection(SEVERITIES, "Severity", readonly=True)
    department = fields.Many2One(
        'crm.department', "Responsible Department", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    complaint_count = fields.Integer("Complaints", readonly=True)
    breach_count = fields.Integer(
        "Breaches", readonly=True,
        help="Complaints with a breached response or resolution limit.")
    response_hours = fields.Float(
        "Average Response Hours", digits=(16, 1), readonly=True)
    resolution_hours = fields.Float(
        "Average Resolution Hours", digits=(16, 1), readonly=True)
    response_on_time = fields.Float(
        "Response within Limit %", digits=(5, 1), readonly=True,
        help="Share of the decided responses that met their deadline.")
    resolution_on_time = fields.Float(
        "Resolution within Limit %", digits=(5, 1), readonly=True,
        help="Share of the decided resolutions that met their deadline.")
    repeat_count = fields.Integer(
        "Repeat Complaints", readonly=True,
        help="Complaints of the same customer and category within the "
        "configured days after another.")
    satisfaction = fields.Float(
        "Average Satisfaction", digits=(3, 2), readonly=True,
        help="Average satisfaction score given at the return visits.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        c = cls._complaint_query()
        return c.select(
            Min(c.id).as_('id'),
            Literal(0).as_('create_uid'),
            Min(c.create_date).as_('create_date'),
            Literal(None).as_('write_uid'),
            Literal(None).as_('write_date'),
            c.company.as_('company'),
            c.month.as_('month'),
            c.category.as_('category'),
            c.severity.as_('severity'),
            c.responsible_department.as_('department'),
            c.party.as_('party'),
            *cls._figure_columns(c),
            group_by=[
                c.company, c.month, c.category, c.severity,
                c.responsible_department, c.party])

    @classmethod
    def _complaint_query(cls, where=None):
        """Return the query of the complaints the ledger counts: those not
        cancelled (and matching the condition where on crm.complaint's
        table, a function of it) with their month"""
        pool = Pool()
        Complaint = pool.get('crm.complaint')
        complaint = Complaint.__table__()
        condition = complaint.state != 'cancelled'
        if where is not None:
            condition &= where(complaint)

        # The month is computed in a sub-query: PostgreSQL cannot match the
        # parameters of DATE_TRUNC in the SELECT with those in GROUP BY.
        month = cls.month.sql_cast(DateTrunc('month', complaint.received_at))
        return complaint.select(
            complaint.id, complaint.create_date, complaint.company,
            month.as_('month'), complaint.category, complaint.severity,
            complaint.responsible_department, complaint.party,
            complaint.response_status, complaint.resolution_status,
            complaint.response_hours, complaint.resolution_hours,
            complaint.is_repeat,
            Case((complaint.state == 'closed', complaint.satisfaction),
                else_=Null).as_('satisfaction'),
            where=condition)

    @classmethod
    def _figure_columns(cls, c):
        """Return the aggregate columns of the ledger's figures over the
        complaints of c, named after the fields"""
        one, zero = Literal(1), Literal(0)

        def count_if(condition):
            return Sum(Case((condition, one), else_=zero))

        def percent(met, decided):
            return (met * Literal(100.0)) / NullIf(decided, zero)

        response_met = count_if(c.response_status == 'met')
        response_decided = count_if(c.response_status != 'pending')
        resolution_met = count_if(c.resolution_status == 'met')
        resolution_decided = count_if(c.resolution_status != 'pending')
        return [
            Count(c.id).as_('complaint_count'),
            count_if((c.response_status == 'breached')
                | (c.resolution_status == 'breached')).as_('breach_count'),
            Avg(c.response_hours * Literal(1.0)).as_('response_hours'),
            Avg(c.resolution_hours * Literal(1.0)).as_('resolution_hours'),
            percent(response_met, response_decided).as_('response_on_time'),
            percent(resolution_met, resolution_decided).as_(
                'resolution_on_time'),
            count_if(c.is_repeat == Literal(True)).as_('repeat_count'),
            Avg(c.satisfaction * Literal(1.0)).as_('satisfaction'),
            ]

    @classmethod
    def report_groups(cls, from_date, to_date, group_by):
        """Return the finance report of the ledger's figures over the
        complaints received from from_date to to_date, grouped by category,
        severity, department, customer or month, with their totals, as the
        reports contract describes"""
        pool = Pool()
        Complaint = pool.get('crm.complaint')
        Party = pool.get('party.party')
        Department = pool.get('crm.department')
        # the names of the groups are read with SQL too
        named = {
            'department': [Department.__name__],
            'customer': [Party.__name__],
            }.get(group_by, [])
        check_report_access([cls.__name__, Complaint.__name__, *named])
        cursor = Transaction().connection.cursor()
        start = dt.datetime.combine(from_date, dt.time.min)
        end = dt.datetime.combine(to_date, dt.time.max)
        # search applies the access rights and record rules of the user
        readable = Complaint.search([], query=True)
        c = cls._complaint_query(lambda complaint: (
                complaint.received_at >= start)
            & (complaint.received_at <= end)
            & complaint.id.in_(readable))
        key = {
            'category': c.category,
            'severity': c.severity,
            'department': c.responsible_department,
            'customer': c.party,
            'month': c.month,
            }[group_by]
        figures = cls._figure_columns(c)
        cursor.execute(*c.select(key, *figures, group_by=[key]))
        rows = list(cursor)
        cursor.execute(*c.select(*figures))
        totals = cls._report_figures(cursor.fetchone())

        if group_by in {'category', 'severity'}:
            selection = cls.fields_get([group_by])[group_by]['selection']
            order = {k: i for i, (k, _) in enumerate(selection)}
            labels = dict(selection)
            keys = {k: (order[k], k, labels[k]) for k, *_ in rows}
        elif group_by == 'department':
            names = {d.id: d.name
                for d in Department.browse([k for k, *_ in rows if k])}
            keys = {k: ((k is None, names.get(k), k), k, names.get(k))
                for k, *_ in rows}
        elif group_by == 'customer':
            party = Party.__table__()
            parties = {}
            for sub_ids in grouped_slice(
                    [k for k, *_ in rows], backend.MAX_QUERY_PARAMS):
                cursor.execute(*party.select(party.id, party.code, party.name,
                        where=party.id.in_(list(sub_ids))))
                parties.update((i, (code, name)) for i, code, name in cursor)
            keys = {k: ((parties[k][0] or '', k), *parties[k])
                for k, *_ in rows}
        else:
            keys = {}
            for k, *_ in rows:
                month = sql_date(k).strftime('%Y-%m')
                keys[k] = (month, month, month)
        groups = [{
                'key': keys[k][1],
                'label': keys[k][2],
                **cls._report_figures(values),
                } for k, *values in sorted(rows, key=lambda r: keys[r[0]][0])]
        return {
            'from': from_date.isoformat(),
            'to': to_date.isoformat(),
            'group_by': group_by,
            'groups': groups,
            'totals': totals,
            }

    @classmethod
    def _report_figures(cls, values):
        "Return the report object of the figures read from _figure_columns"
        (complaint_count, breach_count, response_hours, resolution_hours,
            response_on_time, resolution_on_time, repeat_count,
            satisfaction) = values

        def average(value, name):
            # the screen shows the float of the field with its digits
            if value is None:
                return None
            return report_decimal(float(value), cls._fields[name].digits[1])
        return {
            'complaint_count': int(complaint_count or 0),
            'breach_count': int(breach_count or 0),
            'response_hours': average(response_hours, 'response_hours'),
            'resolution_hours': average(
                resolution_hours, 'resolution_hours'),
            'response_on_time': average(
                response_on_time, 'response_on_time'),
            'resolution_on_time': average(
                resolution_on_time, 'resolution_on_time'),
            'repeat_count': int(repeat_count or 0),
            'satisfaction': average(satisfaction, 'satisfaction'),
            }
