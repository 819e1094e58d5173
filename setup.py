"""Installs the Tryton module ``crm_module`` and the Flask ``sync_api``."""
from setuptools import find_packages, setup

TRYTON = '>=8.0,<8.1'

setup(
    name='crm-governance',
    version='0.1.0',
    description='Customer-relationship governance for Tryton: tiers, '
    'evaluations, key accounts, complaints and a sales sync API',
    python_requires='>=3.10',
    packages=find_packages(include=[
            'crm_module', 'crm_module.*', 'sync_api', 'sync_api.*']),
    package_data={
        'crm_module': [
            'tryton.cfg', '*.xml', 'view/*.xml', 'locale/*.po',
            'tests/*.rst', 'doc/*', 'CHANGELOG', '*.fodt', '*.fods'],
        'sync_api': ['openapi.json'],
        },
    install_requires=[
        # 8.0.12 breaks logins on a server started without a preloaded
        # database (crm_module/doc/design.md, stack facts).
        'trytond[postgresql]%s,!=8.0.12' % TRYTON,
        'trytond-party' + TRYTON,
        'trytond-company' + TRYTON,
        'trytond-currency' + TRYTON,
        'trytond-country' + TRYTON,
        'proteus' + TRYTON,
        'Flask>=3.1,<4',
        'Flask-SQLAlchemy>=3.1,<4',
        'Flask-Migrate>=4,<5',
        'marshmallow>=4,<5',
        'requests>=2.31,<3',
        'psycopg[binary]>=3.1,<4',
        # Serves the API with several worker processes.
        'gunicorn>=22',
        # Formatted spreadsheets for the finance reports, written row by
        # row in constant memory.
        'XlsxWriter>=3.1,<4',
        ],
    extras_require={
        'test': [
            'pytest>=8',
            'ruff',
            'selenium>=4.20',
            # Reads the XLSX reports back in the tests.
            'openpyxl>=3.1,<4',
            'hypothesis>=6.100',
            'schemathesis>=4,<5',
            # A real SMTP server on loopback receives the escalation
            # e-mails in the tests.
            'aiosmtpd>=1.4',
            # The optional complaints by e-mail are tested too.
            'trytond-inbound-email' + TRYTON,
            ],
        'inbound_email': [
            # Complaints received by e-mail (complaint_email.py)
            'trytond-inbound-email' + TRYTON,
            ],
        },
    entry_points={
        'trytond.modules': ['crm_module = crm_module'],
        },
    zip_safe=False,
    )
