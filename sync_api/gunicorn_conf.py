"""gunicorn settings of the API: ``gunicorn -c python:sync_api.gunicorn_conf``.

A pushed batch allocates tens of thousands of short-lived objects (a dict
and its values per line). With CPython's default thresholds that starts a
young-generation collection every 700 allocations and, now and then, a full
one over every object the application holds (Flask, SQLAlchemy, marshmallow
and their caches), which measured about 5 % of a worker's time while pushing.
Once the application is loaded, its objects move to the permanent
generation (never scanned again) and collections come less often. Reference
counting still frees every batch's objects at once; only cycles wait longer.
"""

import gc

# Allocations between young collections, then collections of the younger
# generation between collections of the next (CPython's: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


def post_worker_init(worker):
    # Called in each worker after it has loaded "sync_api:create_app()".
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
