"""Command groups of ``flask --app sync_api``: ``keys`` and ``sync``."""
