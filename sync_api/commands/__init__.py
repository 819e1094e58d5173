"""Command groups of ``flask --app sync_api``: ``keys``, ``sync`` and
``reports``."""
