"""The admin API (OpenAPI-described, authorized, audited) and the CLI over it.

    from switchgear.admin.api import AdminApi, AdminEvent, AuditRecords
    from switchgear.admin.cli import register   # the `switchgear keys|agents|…` commands

Nothing is imported here: the CLI commands load without the server side.
"""
