"""Command line: run the server, manage merchants and devices.

    python -m server run [--config X.toml] [--host H] [--port P] [--db postgresql://...|file.db]
    python -m server merchant add --id M1 --name "Tea House" [--tier 2]
    python -m server merchant tier --id M1 --tier 3
    python -m server device add --id D0001 --merchant M1 --store "Tea House, Nanjing Rd"   (prints the key)
    python -m server device add --id D0002 --merchant M1 --store "..." --activation   (prints a one-time code)
    python -m server device activation-code --id D0002      (a new one-time code: the device gets a new key)
    python -m server device list
    python -m server device disable --id D0001
    python -m server device command --id D0001 --kind reboot [--args '{"text": "hi"}']
    python -m server reconcile --date 2026-11-21 [--channel alipay] [--out var/reconcile]   (exit 1: differences)
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import sys

from aiohttp import web

from .app import create_app
from .devices import issue_activation_code, register_device
from .logs import setup_logging
from .settings import Settings, SettingsError, load_settings
from .storage import AlreadyExists, NotFound, StorageError, open_storage

PROG = "python -m server"


class CliError(Exception):
    """Printed as 'prog: message', exit status 1."""


COMMAND_KINDS = ("reboot", "update_firmware", "show_message", "sync_orders")


def do_run(settings: Settings, args: argparse.Namespace) -> None:
    if args.db:
        settings = dataclasses.replace(settings, database=dataclasses.replace(settings.database, path=args.db))
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    web.run_app(create_app(settings), host=host, port=port, print=None)


def do_merchant_add(settings: Settings, args: argparse.Namespace) -> None:
    async def add() -> None:
        async with open_storage(settings.database) as storage:
            await storage.add_merchant(args.id, args.name, args.tier)
    asyncio.run(add())
    print(f"merchant {args.id} added", file=sys.stderr)


def do_merchant_tier(settings: Settings, args: argparse.Namespace) -> None:
    async def set_tier() -> bool:
        async with open_storage(settings.database) as storage:
            return await storage.set_merchant_tier(args.id, args.tier)
    if not asyncio.run(set_tier()):
        raise CliError(f"no merchant {args.id}")


def do_device_add(settings: Settings, args: argparse.Namespace) -> None:
    async def add() -> str:
        async with open_storage(settings.database) as storage:
            key_hex = await register_device(storage, args.id, args.merchant, args.store,
                                            merchant_name=args.merchant_name, activation=args.activation)
            if args.activation:
                return await issue_activation_code(storage, args.id, settings.device_api.activation_code_ttl_s)
            return key_hex
    secret = asyncio.run(add())
    if args.activation:
        print(f"device {args.id} added; its one-time activation code (enter it on the device):", file=sys.stderr)
    else:
        print(f"device {args.id} added; its key (shown once, give it to the device):", file=sys.stderr)
    print(secret)


def do_device_activation_code(settings: Settings, args: argparse.Namespace) -> None:
    async def issue() -> str:
        async with open_storage(settings.database) as storage:
            return await issue_activation_code(storage, args.id, settings.device_api.activation_code_ttl_s)
    code = asyncio.run(issue())
    print(f"one-time activation code for {args.id} (valid {settings.device_api.activation_code_ttl_s} s):",
          file=sys.stderr)
    print(code)


def do_device_command(settings: Settings, args: argparse.Namespace) -> None:
    try:
        command_args = json.loads(args.args)
    except json.JSONDecodeError as e:
        raise CliError(f"--args is not JSON: {e}") from None
    if not isinstance(command_args, dict):
        raise CliError("--args must be a JSON object")

    async def add() -> str:
        async with open_storage(settings.database) as storage:
            if await storage.get_device(args.id) is None:
                raise CliError(f"no device {args.id}")
            return (await storage.add_command(args.id, args.kind, command_args)).id
    print(asyncio.run(add()))


def do_device_list(settings: Settings, args: argparse.Namespace) -> None:
    async def rows():
        async with open_storage(settings.database) as storage:
            return await storage.list_devices()
    for device in asyncio.run(rows()):
        seen = "-" if device.last_seen_at is None else str(device.last_seen_at // 1000)
        health = (f"seen={seen} battery={_dash(device.battery_pct)} signal={_dash(device.signal_dbm)}"
                  f" fw={_dash(device.firmware)}")
        print(f"{device.id}\t{device.merchant_id}\t{device.status}\t{device.store_name}\t{health}")


def _dash(value) -> str:
    return "-" if value is None else str(value)


def do_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from .reconcile import run
    return run(settings, args.date, args.channel, args.out)


def do_device_disable(settings: Settings, args: argparse.Namespace) -> None:
    async def disable() -> bool:
        async with open_storage(settings.database) as storage:
            return await storage.set_device_status(args.id, "disabled")
    if not asyncio.run(disable()):
        raise CliError(f"no device {args.id}")


def _config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    # Accepted after the command too: `python -m server run --config X.toml`.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="scanpay payment server")
    parser.add_argument("--config", help="TOML config file (default: $SCANPAY_CONFIG, else built-in defaults)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve the device API")
    _config_option(run)
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--db", help="database: a SQLite file or a postgresql:// URL (overrides [database] path)")
    run.set_defaults(handler=do_run)

    merchant = commands.add_parser("merchant", help="manage merchants").add_subparsers(dest="action", required=True)
    add = _config_option(merchant.add_parser("add"))
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--tier", type=int, choices=(1, 2, 3), default=1, help="verification tier (daily cap)")
    add.set_defaults(handler=do_merchant_add)
    tier = _config_option(merchant.add_parser("tier", help="set a merchant's verification tier"))
    tier.add_argument("--id", required=True)
    tier.add_argument("--tier", type=int, choices=(1, 2, 3), required=True)
    tier.set_defaults(handler=do_merchant_tier)

    device = commands.add_parser("device", help="manage devices").add_subparsers(dest="action", required=True)
    add = _config_option(device.add_parser("add", help="register a device and print its new key"))
    add.add_argument("--id", required=True)
    add.add_argument("--merchant", required=True, help="merchant id (created when missing)")
    add.add_argument("--merchant-name", help="name for a merchant created here")
    add.add_argument("--store", required=True, help="store name shown on the device")
    add.add_argument("--activation", action="store_true",
                     help="print a one-time activation code instead of the key; the device calls activate")
    add.set_defaults(handler=do_device_add)
    code = _config_option(device.add_parser("activation-code", help="a new one-time activation code"))
    code.add_argument("--id", required=True)
    code.set_defaults(handler=do_device_activation_code)
    command = _config_option(device.add_parser("command", help="queue a command for the next heartbeat"))
    command.add_argument("--id", required=True)
    command.add_argument("--kind", required=True, choices=COMMAND_KINDS)
    command.add_argument("--args", default="{}", help="JSON object")
    command.set_defaults(handler=do_device_command)
    _config_option(device.add_parser("list")).set_defaults(handler=do_device_list)
    disable = _config_option(device.add_parser("disable", help="refuse the device's requests from now on"))
    disable.add_argument("--id", required=True)
    disable.set_defaults(handler=do_device_disable)

    reconcile = _config_option(commands.add_parser(
        "reconcile", help="compare the channels' daily bills with the orders (exit 1 on differences)"))
    reconcile.add_argument("--date", required=True, type=datetime.date.fromisoformat, help="YYYY-MM-DD, China time")
    reconcile.add_argument("--channel", action="append", help="only this channel (repeatable; default: all active)")
    reconcile.add_argument("--out", default="var/reconcile", help="report folder (a file per date and channel)")
    reconcile.set_defaults(handler=do_reconcile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        setup_logging(settings.logging)
        status = args.handler(settings, args)
    except (CliError, SettingsError, AlreadyExists, NotFound, StorageError, ValueError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return status or 0   # handlers may return an exit status (reconcile: 1 on differences)


if __name__ == "__main__":
    sys.exit(main())
