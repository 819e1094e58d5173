"""Benchmarks of crm_module; run them with ``python -m bench.<name>``."""
