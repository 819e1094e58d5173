"""Helpers of the module's models."""
from trytond import backend
from trytond.pool import Pool
from trytond.transaction import Transaction


class CodeNameMixin:
    "Find the records of a configuration by their name or their code"
    __slots__ = ()

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('name', operator, operand, *extra),
            ('code', operator, operand, *extra),
            ]


def save_shipped(Model, vlist, chinese):
    """Create the shipped records of vlist (their names in English) and give
    them their Chinese names, chinese by code, where zh_CN is installed"""
    Lang = Pool().get('ir.lang')
    with Transaction().set_context(language='en'):
        records = Model.create(vlist)
    if records and Lang.search([
                ('code', '=', 'zh_CN'), ('translatable', '=', True)]):
        with Transaction().set_context(language='zh_CN'):
            translated = Model.browse(records)
            for record in translated:
                record.name = chinese[record.code]
            Model.save(translated)
    return records


class CustomerRecNameMixin:
    """Search the records of a customer by the customer's name.

    The client's quick search looks for the text in rec_name; records named
    after their customer are found by the customer's rec_name (its name,
    code or identifiers) at the path _customer_field, or by one of the
    model's own _rec_name_fields.
    """
    __slots__ = ()
    _customer_field = 'party'
    _rec_name_fields = ()

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('%s.rec_name' % cls._customer_field, operator, operand, *extra),
            *((field, operator, operand, *extra)
                for field in cls._rec_name_fields),
            ]


def to_the_minute(field):
    """Show a timestamp field to the minute: its seconds and microseconds
    tell a user nothing. Tryton validates the format of a date-time field
    against its value, so a date-time whose seconds count (a deadline met
    or breached by one second) keeps them."""
    assert field._type == 'timestamp', field
    field.format = '%H:%M'
    return field


def invalidate_cache(Model, ids):
    "Forget cached values of records changed by raw SQL in this transaction"
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            cache_cls = cache[Model.__name__]
            for id_ in ids:
                cache_cls.pop(id_, None)


def column_added(Model, module, column):
    """Return whether registering Model adds column to a table made by an
    earlier release: the table exists without the column. Call it before
    super().__register__ to know whether to migrate the rows after it."""
    table_h = backend.TableHandler
    return (table_h.table_exist(Model._table)
        and not table_h(Model, module).column_exist(column))
