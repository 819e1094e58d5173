"""The workflow machinery of the CRM models.

The buttons of a workflow are the only way to change a record's state and
the fields that come with it (stamps, figures). The rules are declared once
per model and enforced on the server, as field states are not:

- a button's states: by guarded_transition (the states of _transitions that
  go to its target) or requires_state; the button is invisible in the other
  states and refuses records in them (GuardedButtonsMixin);
- the fields a user may change in each state: _state_fields, from which the
  fields' readonly states are made and writes are checked
  (WorkflowGuardMixin);
- who did a step and when: stamp();
- the records only the workflow writes, such as state changes
  (WorkflowRecordMixin).
"""
import contextlib
import contextvars
import datetime as dt
import functools
import operator

from trytond.i18n import gettext
from trytond.model import Workflow
from trytond.model.modelstorage import EvalEnvironment
from trytond.pool import Pool
from trytond.pyson import Eval, PYSONDecoder, PYSONEncoder
from trytond.transaction import Transaction

from .exceptions import WorkflowStateError

_in_workflow = contextvars.ContextVar('crm_in_workflow', default=False)


@contextlib.contextmanager
def workflow():
    """Mark the writes done by a workflow button.

    State and stamp fields may only change inside a button; a plain write
    over RPC must not be able to move a record to another state.
    """
    token = _in_workflow.set(True)
    try:
        yield
    finally:
        _in_workflow.reset(token)


def in_workflow():
    return _in_workflow.get()


def state_in(states, name='state'):
    "Return the PYSON condition that the field name is in one of states"
    states = list(states)
    if len(states) == 1:
        return Eval(name) == states[0]
    return Eval(name).in_(states)


def _holds(record, condition):
    "Tell whether the PYSON condition holds for record, as the client tells"
    environment = EvalEnvironment(record, record.__class__)
    return bool(PYSONDecoder(environment).decode(
            PYSONEncoder().encode(condition)))


def _guarded(func, required_states):
    """Return the button func that refuses the records whose state is not in
    required_states(cls) and runs inside workflow()"""
    @functools.wraps(func)
    def wrapper(cls, records, *args, **kwargs):
        states = required_states(cls)
        for record in records:
            if record.state not in states:
                Button = Pool().get('ir.model.button')
                action = Button.get_view_attributes(
                    cls.__name__, func.__name__).get('string')
                raise WorkflowStateError(
                    gettext('crm_module.msg_wrong_state',
                        record=record.rec_name,
                        state=record.state_string,
                        action=action or func.__name__))
        with workflow():
            return func(cls, records, *args, **kwargs)
    wrapper.required_states = required_states
    return wrapper


def guarded_transition(state, from_=None):
    """Workflow.transition(state) for a button, refusing the records that
    cannot go to state instead of skipping them.

    Workflow.transition silently skips records in another state; approving
    or applying twice or out of order must be reported to the user instead,
    also when server code calls the button. The button works on the records
    in the states from which _transitions goes to state, or only in from_
    (a state or states among those) where other buttons go to state too.
    """
    if isinstance(from_, str):
        from_ = {from_}

    def decorator(func):
        def required_states(cls):
            sources = {f for f, t in cls._transitions if t == state}
            if from_ is None:
                return sources
            assert from_ <= sources, (
                "%s.%s: no transition from %s to %s" % (
                    cls.__name__, func.__name__,
                    ', '.join(sorted(from_ - sources)), state))
            return set(from_)
        return _guarded(Workflow.transition(state)(func), required_states)
    return decorator


def requires_state(*states):
    """Let a workflow button that is no transition (it computes the state
    it goes to) work only on records in one of states."""
    def decorator(func):
        return _guarded(func, lambda cls: set(states))
    return decorator


def stamp_fields(*steps):
    "Return the names of the stamp fields of the workflow steps"
    return {'%s_%s' % (step, suffix)
        for step in steps for suffix in ['by', 'at']}


def stamp(step, moment=None):
    """Return the values that record who did the workflow step and when:
    <step>_by, the user, and <step>_at, moment or now"""
    return {
        '%s_by' % step: Transaction().user,
        '%s_at' % step: moment if moment is not None else dt.datetime.now(),
        }


def unstamp(*steps):
    "Return the values that clear the stamps of the workflow steps"
    return dict.fromkeys(stamp_fields(*steps))


class GuardedButtonsMixin:
    """Show each guarded workflow button in the states it works in only.

    The 'invisible' of such a button in _buttons gives only its conditions
    besides the state: the states come from its guarded_transition or
    requires_state, so that the client shows a button where the server
    accepts it and nowhere else.
    """
    __slots__ = ()

    @classmethod
    def __post_setup__(cls):
        super().__post_setup__()
        states = [s for s, _ in cls.state.selection]
        for name, button in cls._buttons.items():
            required_states = getattr(
                getattr(cls, name, None), 'required_states', None)
            if required_states is None:
                continue
            required = required_states(cls)
            invisible = ~state_in(s for s in states if s in required)
            if 'invisible' in button:
                invisible |= button['invisible']
            button['invisible'] = invisible
            button['depends'] = sorted({'state', *button.get('depends', [])})


class WorkflowGuardMixin(GuardedButtonsMixin):
    """Keep the workflow fields of a model to its buttons and every other
    field to the states that let a user change it.

    A plain create or write (over RPC too) may not set the state or the
    stamps the buttons write (_workflow_fields, refused with the message
    _workflow_field_message); copies start again from the initial state. A
    create may give a workflow field its default value, as the client does.

    _state_fields names per state the fields a user may change in it, and
    _state_fields_when the (state, PYSON condition, fields) a user may also
    change in state while the condition holds. The fields' readonly states
    are made from them and check_locked refuses the other fields with the
    error of _raise_locked.
    """
    __slots__ = ()
    _workflow_fields = set()
    _workflow_field_message = None
    _state_fields = {}
    _state_fields_when = ()

    @classmethod
    def __setup__(cls):
        super().__setup__()
        selection = {s for s, _ in cls.state.selection}
        assert selection.issuperset(cls._state_fields), (
            cls.__name__, set(cls._state_fields) - selection)
        names = set().union(*cls._state_fields.values(),
            *(names for _, _, names in cls._state_fields_when))
        for name in names:
            states = cls._field_states(name)
            if len(states) == len(cls.state.selection):
                continue
            conditions = [state_in(states)] if states else []
            conditions.extend((Eval('state') == state) & condition
                for state, condition, when_fields in cls._state_fields_when
                if name in when_fields)
            field = getattr(cls, name)
            field.states = {
                **field.states,
                'readonly': ~functools.reduce(operator.or_, conditions),
                }

    @classmethod
    def _field_states(cls, name):
        """Return the states in which a user may change the field name, in
        the order of the state selection"""
        return [s for s, _ in cls.state.selection
            if name in cls._state_fields.get(s, ())]

    def _editable_fields(self):
        "Return the fields a user may change on the record in its state"
        editable = set(self._state_fields.get(self.state, ()))
        for state, condition, names in self._state_fields_when:
            if self.state == state and _holds(self, condition):
                editable |= names
        return editable

    def _locked_fields(self, values):
        "Return the fields of values that the record's state locks"
        return set(values) - self._editable_fields()

    @classmethod
    def _raise_locked(cls, record, fields_):
        "Raise the error of a change of the fields_ locked on record"
        raise NotImplementedError

    @classmethod
    def _refuse_workflow_fields(cls, fields_):
        if fields_:
            raise WorkflowStateError(gettext(
                    cls._workflow_field_message,
                    fields=', '.join(sorted(fields_))))

    @classmethod
    def check_locked(cls, records, values):
        "Refuse values that the state of records does not allow to change"
        for record in records:
            locked = record._locked_fields(values)
            if locked:
                cls._raise_locked(record, locked)

    @classmethod
    def create(cls, vlist):
        if not in_workflow():
            defaults = cls.default_get(
                list(cls._workflow_fields), with_rec_name=False)
            initial = defaults.get('state')
            for values in vlist:
                fields_ = {f for f in set(values) & cls._workflow_fields
                    if f != 'state' and values[f] != defaults.get(f)}
                if values.get('state', initial) != initial:
                    fields_ = fields_ or {'state'}
                cls._refuse_workflow_fields(fields_)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        if not in_workflow():
            actions = iter(args)
            for records, values in zip(actions, actions, strict=False):
                cls._refuse_workflow_fields(
                    set(values) & cls._workflow_fields)
                cls.check_locked(records, values)
        super().write(*args)

    @classmethod
    def copy(cls, records, default=None):
        default = default.copy() if default is not None else {}
        for name in cls._workflow_fields - {'state'}:
            default.setdefault(name, None)
        return super().copy(records, default=default)


class WorkflowRecordMixin:
    """A record of what the workflow did (a state change, an escalation, a
    change of tier), which nobody writes by hand, over RPC or in server
    code.

    _record_create, _record_write and _record_delete say when the records
    may be created, written and deleted: 'workflow', only inside
    workflow(); 'never'; or None, as the model's other rules decide. A
    refusal raises _record_error with the message _record_message.
    """
    __slots__ = ()
    _record_message = None
    _record_error = WorkflowStateError
    _record_create = 'workflow'
    _record_write = 'never'
    _record_delete = 'never'

    @classmethod
    def _check_record_rule(cls, rule):
        if rule == 'never' or (rule == 'workflow' and not in_workflow()):
            raise cls._record_error(gettext(cls._record_message))

    @classmethod
    def create(cls, vlist):
        cls._check_record_rule(cls._record_create)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        cls._check_record_rule(cls._record_write)
        super().write(*args)

    @classmethod
    def delete(cls, records):
        if records:
            cls._check_record_rule(cls._record_delete)
        super().delete(records)
