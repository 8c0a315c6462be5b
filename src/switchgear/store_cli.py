"""`switchgear db …`: migrations and the first admin, straight on the store.

These commands open the database directly (they are how an operator gets the first
admin credential); everything after that goes through the admin API.
"""

from __future__ import annotations

import argparse
import sys

from switchgear.config.load import ConfigError, load_config
from switchgear.config.schema import StoreConfig
from switchgear.audit.errors import SigningKeyError
from switchgear.store.database import StoreError, redact


def store_url(args: argparse.Namespace) -> str:
    if getattr(args, "store", None):
        return str(args.store)
    if getattr(args, "config", None):
        cfg = load_config(args.config)
        if cfg.store is None:
            raise ConfigError([f"{args.config}: no `store:` section (config-only identity mode has no database)"])
        return cfg.store.url
    return StoreConfig().url


def _add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", "-c", help="take the store url from this config file")
    g.add_argument("--store", help="store url: sqlite:///path or postgresql://user@host/db "
                                   f"(default: {StoreConfig().url})")


def cmd_upgrade(args: argparse.Namespace) -> int:
    from switchgear.store import migrate

    url = store_url(args)
    done = migrate.upgrade(url)
    print(f"{redact(url)}: " + (f"applied {', '.join(done)}" if done else "up to date"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from switchgear.store import migrate

    url = store_url(args)
    todo = migrate.pending(url)
    print(f"{redact(url)}: applied {', '.join(migrate.applied(url)) or 'nothing'}; "
          f"pending {', '.join(todo) or 'nothing'}")
    return 1 if todo else 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Create the organisation and its first org admin with a key (shown once)."""
    from switchgear.identity import repository as repo
    from switchgear.store import migrate
    from switchgear.store.database import Database

    url = store_url(args)
    migrate.check(url)
    db = Database(url)

    def run(conn):  # type: ignore[no-untyped-def]
        org = repo.find_org(conn, args.org) or repo.create_org(conn, args.org)
        user = repo.create_principal(conn, org.id, "user", args.admin, email=args.email, role="org_admin")
        key, secret = repo.create_key(conn, org.id, user.id, "bootstrap", created_by="switchgear db bootstrap")
        return org, user, key, secret

    try:
        org, user, key, secret = db.run_sync(run)
    except repo.Invalid as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        db.close_sync()
    print(f"organisation {org.name} ({org.id}); org admin {user.name} ({user.id}); key {key.prefix} ({key.id})")
    print(f"admin key (shown once, store it now): {secret}")
    return 0


def _signing_key_file(args: argparse.Namespace) -> str:
    from switchgear.config.schema import AuditConfig

    if getattr(args, "config", None):
        return load_config(args.config).audit.signing_key_file
    return AuditConfig().signing_key_file


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Walk the whole chain; exit 1 naming every problem found."""
    import os

    from switchgear.audit.report import main_report_text
    from switchgear.audit.signing import load_public_key
    from switchgear.audit.verify import verify
    from switchgear.store.database import Database

    url = store_url(args)
    paths = args.public_key or []
    if not paths:
        default = _signing_key_file(args)
        if os.path.exists(default):
            paths = [default]
        else:
            print(f"warning: no --public-key and no signing key at {default}: "
                  "checkpoint signatures are not checked", file=sys.stderr)
    keys = [load_public_key(p) for p in paths] or None
    db = Database(url)
    try:
        report = verify(db, keys)
    finally:
        db.close_sync()
    print(main_report_text(report))
    return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from switchgear.audit.export import export_jsonl
    from switchgear.store.database import Database

    db = Database(store_url(args))
    try:
        if args.out and args.out != "-":
            with open(args.out, "wb") as f:
                n = export_jsonl(db, f, args.since, args.until, with_entry_json=args.with_entry_json)
            print(f"{n} entries written to {args.out}", file=sys.stderr)
        else:
            n = export_jsonl(db, sys.stdout.buffer, args.since, args.until, with_entry_json=args.with_entry_json)
            sys.stdout.buffer.flush()
    finally:
        db.close_sync()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="the durable store: migrations and the first admin")
    dsub = db.add_subparsers(dest="db_command", required=True)
    u = dsub.add_parser("upgrade", help="apply pending migrations (safe while older gateways run)")
    _add_target(u)
    u.set_defaults(func=_guard(cmd_upgrade))
    s = dsub.add_parser("status", help="applied and pending migrations (exit 1 when some are pending)")
    _add_target(s)
    s.set_defaults(func=_guard(cmd_status))
    b = dsub.add_parser("bootstrap", help="create an organisation and its first org admin + key")
    _add_target(b)
    b.add_argument("--org", required=True, help="organisation name (created if missing)")
    b.add_argument("--admin", required=True, help="the admin user's name")
    b.add_argument("--email")
    b.set_defaults(func=_guard(cmd_bootstrap))

    audit = sub.add_parser("audit", help="the tamper-evident audit record, straight from the store")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="check the hash chain and signed checkpoints; names every bad entry")
    _add_target(v)
    v.add_argument("--public-key", action="append", metavar="PEM",
                   help="checkpoint public key (repeatable; default: the configured signing key file)")
    v.set_defaults(func=_guard(cmd_audit_verify))
    e = asub.add_parser("export", help="the record as JSON lines")
    _add_target(e)
    e.add_argument("--since", type=float, help="unix seconds (inclusive)")
    e.add_argument("--until", type=float, help="unix seconds (exclusive)")
    e.add_argument("--out", "-o", help="file to write (default: stdout)")
    e.add_argument("--with-entry-json", action="store_true",
                   help="include the exact hashed text, so the chain can be re-checked from the export alone")
    e.set_defaults(func=_guard(cmd_audit_export))


def _guard(fn):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except (ConfigError, StoreError, OSError, SigningKeyError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return run
