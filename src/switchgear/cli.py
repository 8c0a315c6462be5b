"""The `switchgear` command."""

from __future__ import annotations

import argparse
import asyncio
import sys

from switchgear.config.load import ConfigError, load_config
from switchgear.audit.errors import SigningKeyError
from switchgear.store.database import StoreError


def _run(coro) -> None:  # type: ignore[no-untyped-def]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay usable without it
        asyncio.run(coro)
        return
    uvloop.run(coro)  # outside the try: an ImportError raised by the app must surface as itself


def cmd_serve(args: argparse.Namespace) -> int:
    from switchgear.config.defaults import default_config
    from switchgear.serve import serve_forever

    generated = None
    try:
        if args.config:
            cfg = load_config(args.config)
        else:
            cfg, generated = default_config()
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        _run(serve_forever(cfg, args.host, args.port, generated))
    except ConfigError as e:  # found while building the runtime (e.g. missing AWS credentials)
        print(e, file=sys.stderr)
        return 2
    except (StoreError, SigningKeyError) as e:  # unreachable store, old schema, unreadable audit key
        print(f"switchgear: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"switchgear: cannot listen: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.path)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{args.path}: OK ({len(cfg.providers)} providers, {len(cfg.models)} models, {len(cfg.auth.keys)} client keys)")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from switchgear.simulator import Simulator, SimulatorConfig

    async def main() -> None:
        sim = Simulator(SimulatorConfig(latency_ms=args.latency_ms, tokens_per_second=args.tokens_per_second,
                                        error_rate=args.error_rate, rate_limit_rate=args.rate_limit_rate))
        host, port = await sim.start(args.host, args.port)
        print(f"Switchgear simulator (all wire formats) on http://{host}:{port}", flush=True)
        await asyncio.Event().wait()

    try:
        _run(main())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_route_explain(args: argparse.Namespace) -> int:
    from switchgear.route_explain import explain

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    headers: dict[str, str] = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            print(f"error: --header wants name:value, got {h!r}", file=sys.stderr)
            return 2
        headers[name.strip().lower()] = value.strip()
    code, text = asyncio.run(explain(cfg, args.model, args.key, headers))
    print(text, file=sys.stderr if code else sys.stdout)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchgear", description="AI inference gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the gateway (no --config: embedded defaults)")
    s.add_argument("--config", "-c", help="YAML config file")
    s.add_argument("--host", help="listen address (default from config: 127.0.0.1)")
    s.add_argument("--port", type=int, help="listen port (default from config: 4000)")
    s.set_defaults(func=cmd_serve)
    c = sub.add_parser("check-config", help="validate a config file; lists every problem")
    c.add_argument("path")
    c.set_defaults(func=cmd_check_config)
    m = sub.add_parser("simulate", help="run the provider simulator on its own")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=9000)
    m.add_argument("--latency-ms", type=float, default=0.0)
    m.add_argument("--tokens-per-second", type=float, default=0.0)
    m.add_argument("--error-rate", type=float, default=0.0)
    m.add_argument("--rate-limit-rate", type=float, default=0.0)
    m.set_defaults(func=cmd_simulate)
    r = sub.add_parser("route", help="routing tools")
    rsub = r.add_subparsers(dest="route_command", required=True)
    e = rsub.add_parser("explain", help="the candidate deployments for a model and caller, and why others are excluded")
    e.add_argument("--config", "-c", required=True, help="YAML config file")
    e.add_argument("--model", required=True)
    e.add_argument("--key", help="a client key of the config (its placement requirements apply)")
    e.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                   help="a request header, e.g. x-switchgear-residency:eu (repeatable)")
    e.set_defaults(func=cmd_route_explain)
    from switchgear import store_cli

    store_cli.register(sub)
    from switchgear.admin.cli import register as register_admin

    register_admin(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
