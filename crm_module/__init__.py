# The module's models are registered from the [register] section of
# tryton.cfg; importing routes adds the sync route to trytond's WSGI app.
from . import routes  # noqa: F401
