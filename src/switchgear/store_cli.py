"""`switchgear db …`: migrations and the first admin, straight on the store.

These commands open the database directly (they are how an operator gets the first
admin credential); everything after that goes through the admin API.
"""

from __future__ import annotations

import argparse
import sys

from switchgear.config.load import ConfigError, load_config
from switchgear.config.schema import StoreConfig
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


def _guard(fn):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except (ConfigError, StoreError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return run
