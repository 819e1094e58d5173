"""What a customer is, beyond its figures: its industry standing and the
qualifications a CRM manager gives it, each change kept with its reason;
and the tier presets of the rulebooks.

The standing and the qualifications change only through the Change
Classification wizard, which only CRM managers may run: a plain write over
RPC is refused (doc/policy.md#tiers-and-evaluation).
"""
import datetime as dt

from sql.conditionals import Coalesce
from sql import Literal

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .clock import sql_date, today
from .common import CodeNameMixin, CustomerRecNameMixin, save_shipped
from .exceptions import ClassificationError, PresetError
from .presets import DEFAULT_PRESET, PRESET_NAMES, PRESETS, QUALIFICATIONS
from .tier import STANDINGS, ladder_checked_after, rule_text
from .workflow import WorkflowRecordMixin, workflow



def is_crm_manager():
    "Tell whether the user of the transaction is a CRM manager (or root)"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    # Not the access check flag: a wizard's steps run without it.
    if Transaction().user == 0:
        return True
    return ModelData.get_id('crm_module', 'group_crm_manager') in (
        User.get_groups())


def qualified_sql(party, company_id, code=None):
    """The SQL condition that the party column has a qualification of the
    company (the one of code, or any; of any company without company_id)"""
    pool = Pool()
    PartyQualification = pool.get('crm.party.qualification')
    Qualification = pool.get('crm.qualification')
    given = PartyQualification.__table__()
    qualification = Qualification.__table__()
    # an uncorrelated subquery: the database runs it once, not per party
    where = Literal(True)
    if company_id is not None:
        where &= qualification.company == company_id
    if code is not None:
        where &= qualification.code == code
    return party.in_(given.join(qualification,
            condition=given.qualification == qualification.id).select(
            given.party, where=where))


class Qualification(CodeNameMixin, DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.qualification'
    __string__ = "Customer Qualification"

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    code = fields.Char("Code", required=True, strip=True)
    name = fields.Char("Name", required=True, translate=True)
    description = fields.Text("Description", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_company_uniq', Unique(t, t.company, t.code),
                'crm_module.msg_qualification_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def __register__(cls, module):
        created = not backend.TableHandler.table_exist(cls._table)
        super().__register__(module)
        if created:
            cls._migrate_companies()

    @classmethod
    def _migrate_companies(cls):
        "Give the companies of an upgraded database the shipped set"
        pool = Pool()
        Company = pool.get('company.company')
        company = Company.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*company.select(company.id))
        now = dt.datetime.now()
        rows = [[c, code, name, True, 0, now]
            for c, in list(cursor) for code, name, _ in QUALIFICATIONS]
        if rows:
            cursor.execute(*table.insert(
                    [table.company, table.code, table.name, table.active,
                        table.create_uid, table.create_date], rows))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def create_defaults(cls, companies):
        "Give companies the shipped qualifications they do not have"
        with Transaction().set_context(active_test=False):
            existing = {(q.company, q.code) for q in cls.search([
                        ('company', 'in', [c.id for c in companies]),
                        ])}
        vlist = [{'company': c.id, 'code': code, 'name': name}
            for c in companies for code, name, _ in QUALIFICATIONS
            if (c, code) not in existing]
        return save_shipped(
            cls, vlist, {code: zh for code, _, zh in QUALIFICATIONS})


class PartyQualification(CustomerRecNameMixin, WorkflowRecordMixin,
        ModelSQL, ModelView):
    __name__ = 'crm.party.qualification'
    __string__ = "Party Qualification"
    _record_message = 'crm_module.msg_classification_wizard_only'
    _record_error = ClassificationError
    _record_delete = 'workflow'

    party = fields.Many2One(
        'party.party', "Party", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    qualification = fields.Many2One(
        'crm.qualification', "Qualification", required=True, readonly=True,
        ondelete='RESTRICT')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    date = fields.Date("Since", required=True, readonly=True)
    reason = fields.Text("Reason", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('party_qualification_uniq', Unique(t, t.party, t.qualification),
                'crm_module.msg_party_qualification_unique'),
            ]
        cls._sql_indexes.add(Index(t,
                (t.party, Index.Equality()),
                (t.qualification, Index.Equality())))

    @classmethod
    def __register__(cls, module):
        created = not backend.TableHandler.table_exist(cls._table)
        super().__register__(module)
        if created:
            cls._migrate_designations()

    @classmethod
    def _migrate_designations(cls):
        """Turn the designations of the release before qualifications
        (party.crm_strategic and its reason) into the qualification
        "designated strategic", with a history record of the upgrade"""
        pool = Pool()
        Party = pool.get('party.party')
        Qualification = pool.get('crm.qualification')
        History = pool.get('crm.party.classification')
        party_h = Party.__table_handler__()
        if not party_h.column_exist('crm_strategic'):
            return
        party = Party.__table__()
        qualification = Qualification.__table__()
        table = cls.__table__()
        history = History.__table__()
        cursor = Transaction().connection.cursor()
        now = dt.datetime.now()
        cursor.execute(*qualification.select(
                qualification.id, qualification.company,
                where=qualification.code == 'designated_strategic'))
        designated = list(cursor)
        if len(designated) != 1:
            # parties are not per company: only a single company's
            # designation can be carried over unambiguously
            return
        (qualification_id, company_id), = designated
        cursor.execute(*party.select(
                party.id, party.crm_strategic_reason,
                Coalesce(party.write_date, party.create_date),
                where=party.crm_strategic == True))  # noqa: E712
        for party_id, reason, date in list(cursor):
            reason = (reason or '').strip() or '-'
            date = sql_date(date) or now.date()
            cursor.execute(*table.insert(
                    [table.party, table.qualification, table.date,
                        table.reason, table.create_uid, table.create_date],
                    [[party_id, qualification_id, date, reason, 0, now]]))
            cursor.execute(*history.insert(
                    [history.party, history.company, history.date,
                        history.change, history.qualification, history.reason,
                        history.create_uid, history.create_date],
                    [[party_id, company_id, date, 'added', qualification_id,
                            reason, 0, now]]))

    @fields.depends('qualification', '_parent_qualification.company')
    def on_change_with_company(self, name=None):
        return self.qualification.company if self.qualification else None

    @classmethod
    def search_company(cls, name, clause):
        return [('qualification.' + clause[0], *clause[1:])]


CHANGES = [
    ('standing', "Industry Standing"),
    ('added', "Qualification Added"),
    ('removed', "Qualification Removed"),
    ]


class ClassificationHistory(
        CustomerRecNameMixin, WorkflowRecordMixin, ModelSQL, ModelView):
    __name__ = 'crm.party.classification'
    __string__ = "Party Classification History"
    _record_message = 'crm_module.msg_classification_history_readonly'
    _record_error = ClassificationError

    party = fields.Many2One(
        'party.party', "Party", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    date = fields.Date("Date", required=True, readonly=True)
    change = fields.Selection(CHANGES, "Change", required=True, readonly=True)
    from_standing = fields.Selection(
        [(None, ""), *STANDINGS], "From Standing", readonly=True)
    to_standing = fields.Selection(
        [(None, ""), *STANDINGS], "To Standing", readonly=True)
    qualification = fields.Many2One(
        'crm.qualification', "Qualification", readonly=True,
        ondelete='RESTRICT')
    reason = fields.Text("Reason", required=True, readonly=True)
    user = fields.Many2One('res.user', "Changed By", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.party, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]


class ChangeClassificationStart(ModelView):
    __name__ = 'crm.party.classify.start'
    __string__ = "Change Classification"

    party = fields.Many2One(
        'party.party', "Party", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    company = fields.Many2One('company.company', "Company", readonly=True)
    standing = fields.Selection(
        STANDINGS, "Industry Standing", required=True,
        help="The customer's size and brand standing in its industry, as "
        "the rulebooks' tiers ask it.")
    qualifications = fields.Many2Many(
        'crm.qualification', None, None, "Qualifications",
        domain=[('company', '=', Eval('company', -1))])
    date = fields.Date("Date", required=True)
    reason = fields.Text(
        "Reason", required=True,
        help="Why the classification changes; kept in the party's "
        "classification history, also when a qualification is removed.")


class ChangeClassification(Wizard):
    __name__ = 'crm.party.classify'
    __string__ = "Change Classification"

    start = StateView('crm.party.classify.start',
        'crm_module.party_classify_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Change", 'change', 'tryton-ok', default=True),
            ])
    change = StateTransition()

    def default_start(self, fields):
        party = self.record
        company = Transaction().context.get('company')
        return {
            'party': party.id,
            'company': company,
            'standing': party.crm_industry_standing or 'other',
            'qualifications': [q.qualification.id
                for q in party.crm_qualifications
                if q.qualification.company.id == company],
            'date': today(),
            }

    def transition_change(self):
        Party = Pool().get('party.party')
        Party.change_classification(
            self.record, self.start.standing,
            list(self.start.qualifications), self.start.date,
            self.start.reason)
        return 'end'


def change_classification(party, company, standing, qualifications, date,
        reason):
    """Give party the standing and exactly the qualifications of company,
    keeping one history record per change; only CRM managers may"""
    pool = Pool()
    PartyQualification = pool.get('crm.party.qualification')
    History = pool.get('crm.party.classification')
    Party = pool.get('party.party')
    if not is_crm_manager():
        raise ClassificationError(gettext(
                'crm_module.msg_classification_manager',
                party=party.rec_name))
    reason = (reason or '').strip()
    if not reason:
        raise ClassificationError(gettext(
                'crm_module.msg_classification_reason',
                party=party.rec_name))
    if date > today():
        raise ClassificationError(gettext(
                'crm_module.msg_classification_future',
                party=party.rec_name, date=date))
    for qualification in qualifications:
        if qualification.company != company:
            raise ClassificationError(gettext(
                    'crm_module.msg_criterion_qualification_company',
                    tier=party.rec_name,
                    qualification=qualification.rec_name))
    user = Transaction().user
    current = {q.qualification: q for q in party.crm_qualifications
        if q.qualification.company == company}
    wanted = set(qualifications)
    history = []
    base = {'party': party.id, 'company': company.id, 'date': date,
        'reason': reason, 'user': user}
    previous = party.crm_industry_standing or 'other'
    if standing != previous:
        history.append({**base, 'change': 'standing',
                'from_standing': previous, 'to_standing': standing})
    added = [q for q in qualifications if q not in current]
    removed = [current[q] for q in current if q not in wanted]
    history.extend({**base, 'change': 'added', 'qualification': q.id}
        for q in added)
    history.extend({**base, 'change': 'removed',
            'qualification': q.qualification.id} for q in removed)
    if not history:
        raise ClassificationError(gettext(
                'crm_module.msg_classification_unchanged',
                party=party.rec_name))
    with workflow(), without_check_access():
        if standing != previous:
            Party.write([party], {'crm_industry_standing': standing})
        PartyQualification.delete(removed)
        PartyQualification.create([{
                    'party': party.id, 'qualification': q.id,
                    'date': date, 'reason': reason} for q in added])
        History.create(history)


class PresetLoadStart(ModelView):
    __name__ = 'crm.tier.preset.start'
    __string__ = "Load Tier Preset"

    company = fields.Many2One('company.company', "Company", readonly=True)
    preset = fields.Selection(
        PRESET_NAMES, "Preset", required=True,
        help="The elevator-parts rulebook is the shipped default: "
        "key = annual sales >= 20,000,000 and a leading standing. The "
        "share rulebook: strategic partner = share above 5 % or a "
        "qualification, key = share above 3 % or a qualification.")


class PresetLoadPreview(ModelView):
    __name__ = 'crm.tier.preset.preview'
    __string__ = "Load Tier Preset"

    changes = fields.Text("Changes", readonly=True)


class PresetLoad(Wizard):
    __name__ = 'crm.tier.preset'
    __string__ = "Load Tier Preset"

    start = StateView('crm.tier.preset.start',
        'crm_module.tier_preset_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Show Changes", 'preview', 'tryton-forward', default=True),
            ])
    preview = StateView('crm.tier.preset.preview',
        'crm_module.tier_preset_preview_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Load", 'load', 'tryton-ok', default=True),
            ])
    load = StateTransition()

    def default_start(self, fields):
        return {
            'company': Transaction().context.get('company'),
            'preset': DEFAULT_PRESET,
            }

    def default_preview(self, fields):
        company = self.start.company
        check_no_waiting_evaluation(company)
        return {'changes': preset_changes(company, self.start.preset)}

    def transition_load(self):
        load_preset(self.start.company, self.start.preset)
        return 'end'


def check_no_waiting_evaluation(company):
    "Refuse to change the tiers while an evaluation of company waits"
    Evaluation = Pool().get('crm.evaluation')
    waiting = Evaluation.search([
            ('company', '=', company.id),
            ('state', 'in', ['computed', 'approved']),
            ], limit=1)
    if waiting:
        evaluation, = waiting
        raise PresetError(gettext(
                'crm_module.msg_preset_evaluation_waiting',
                company=company.rec_name, evaluation=evaluation.rec_name,
                state=evaluation.state_string))


def _rule_text(combination, criteria):
    "The words of a rule of the preset, as the rule of a tier says them"
    Criterion = Pool().get('crm.tier.criterion')
    return rule_text(
        combination, [Criterion(**c).get_rec_name(None) for c in criteria])


def _resolved(company, criteria):
    "Return criteria with the qualification codes replaced by records"
    Qualification = Pool().get('crm.qualification')
    by_code = {q.code: q for q in Qualification.search([
                ('company', '=', company.id)])}
    resolved = []
    for criterion in criteria:
        criterion = dict(criterion)
        if criterion['kind'] == 'qualification':
            code = criterion['qualification']
            if code not in by_code:
                raise PresetError(gettext(
                        'crm_module.msg_preset_qualification',
                        company=company.rec_name, qualification=code))
            criterion['qualification'] = by_code[code]
        resolved.append(criterion)
    return resolved


def preset_changes(company, preset):
    "Return the text that says what loading preset changes for company"
    Tier = Pool().get('crm.tier')
    with Transaction().set_context(active_test=False):
        tiers = {t.code: t for t in Tier.search([
                    ('company', '=', company.id)])}
    lines = []
    codes = set()
    for code, name, _, combination, criteria, prospects, _, _ in (
            PRESETS[preset]):
        codes.add(code)
        new = (gettext('crm_module.msg_tier_prospects_rule') if prospects
            else _rule_text(combination, _resolved(company, criteria)))
        tier = tiers.get(code)
        if tier is None:
            lines.append(gettext('crm_module.msg_preset_tier_created',
                    tier=name, rule=new))
            continue
        old = tier.rule
        if not tier.active:
            lines.append(gettext('crm_module.msg_preset_tier_activated',
                    tier=tier.rec_name, rule=new))
        elif old != new:
            lines.append(gettext('crm_module.msg_preset_tier_changed',
                    tier=tier.rec_name, old=old, new=new))
        else:
            lines.append(gettext('crm_module.msg_preset_tier_unchanged',
                    tier=tier.rec_name, rule=new))
    for code, tier in tiers.items():
        if code not in codes and tier.active:
            lines.append(gettext('crm_module.msg_preset_tier_deactivated',
                    tier=tier.rec_name))
    return '\n'.join(lines)


def load_preset(company, preset, check=True):
    """Give company the tiers of preset: the rule of each tier of the
    preset (created if missing), the other tiers deactivated"""
    if check:
        if not is_crm_manager():
            raise PresetError(gettext(
                    'crm_module.msg_preset_manager', company=company.rec_name))
        check_no_waiting_evaluation(company)
    with ladder_checked_after(lambda: [company]):
        return _load_preset(company, preset)


def _load_preset(company, preset):
    pool = Pool()
    Tier = pool.get('crm.tier')
    Criterion = pool.get('crm.tier.criterion')
    Qualification = pool.get('crm.qualification')
    Company = pool.get('company.company')
    Qualification.create_defaults([company])
    with Transaction().set_context(active_test=False):
        tiers = {t.code: t for t in Tier.search([
                    ('company', '=', company.id)])}
    rows = PRESETS[preset]
    new, names, to_save = [], {}, []
    for sequence, (code, name, zh, combination, criteria, prospects,
            status_report, review) in enumerate(rows, 1):
        criteria = _resolved(company, criteria)
        rule = {'sequence': sequence * 10, 'active': True,
            'no_sales': prospects, 'combination': combination}
        tier = tiers.get(code)
        if tier is None:
            new.append({**rule, 'company': company.id, 'code': code,
                    'name': name, 'status_report': status_report,
                    'review_months': review,
                    'criteria': [('create', [
                                {k: getattr(v, 'id', v) for k, v in c.items()}
                                for c in criteria])]})
            names[code] = zh
            continue
        for key, value in rule.items():
            setattr(tier, key, value)
        tier.criteria = [Criterion(**c) for c in criteria]
        to_save.append(tier)
    codes = {r[0] for r in rows}
    for code, tier in tiers.items():
        if code not in codes:
            tier.active = False
            tier.criteria = []
            to_save.append(tier)
    Tier.save(to_save)
    created = save_shipped(Tier, new, names)
    if created:
        Company.create_crm_visit_policies([company])
    return to_save + created
