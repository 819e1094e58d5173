# The module's models are registered from the [register] section of
# tryton.cfg; importing routes adds the sync routes to trytond's WSGI app
# and report_routes the finance report routes.
from . import report_routes, routes  # noqa: F401
