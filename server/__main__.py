"""Command line: run the server, manage merchants and devices.

    python -m server run [--config X.toml] [--host H] [--port P]
    python -m server merchant add --id M1 --name "Tea House"
    python -m server device add --id D0001 --merchant M1 --store "Tea House, Nanjing Rd"   (prints the key)
    python -m server device list
    python -m server device disable --id D0001
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from .app import create_app
from .devices import register_device
from .settings import Settings, SettingsError, load_settings
from .storage import AlreadyExists, NotFound, StorageError, open_storage

PROG = "python -m server"


class CliError(Exception):
    """Printed as 'prog: message', exit status 1."""


def do_run(settings: Settings, args: argparse.Namespace) -> None:
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    web.run_app(create_app(settings), host=host, port=port, print=None)


def do_merchant_add(settings: Settings, args: argparse.Namespace) -> None:
    async def add() -> None:
        async with open_storage(settings.database) as storage:
            await storage.add_merchant(args.id, args.name)
    asyncio.run(add())
    print(f"merchant {args.id} added", file=sys.stderr)


def do_device_add(settings: Settings, args: argparse.Namespace) -> None:
    async def add() -> str:
        async with open_storage(settings.database) as storage:
            return await register_device(storage, args.id, args.merchant, args.store,
                                         merchant_name=args.merchant_name)
    key_hex = asyncio.run(add())
    print(f"device {args.id} added; its key (shown once, give it to the device):", file=sys.stderr)
    print(key_hex)


def do_device_list(settings: Settings, args: argparse.Namespace) -> None:
    async def rows():
        async with open_storage(settings.database) as storage:
            return await storage.list_devices()
    for device in asyncio.run(rows()):
        print(f"{device.id}\t{device.merchant_id}\t{device.status}\t{device.store_name}")


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
    run.set_defaults(handler=do_run)

    merchant = commands.add_parser("merchant", help="manage merchants").add_subparsers(dest="action", required=True)
    add = _config_option(merchant.add_parser("add"))
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.set_defaults(handler=do_merchant_add)

    device = commands.add_parser("device", help="manage devices").add_subparsers(dest="action", required=True)
    add = _config_option(device.add_parser("add", help="register a device and print its new key"))
    add.add_argument("--id", required=True)
    add.add_argument("--merchant", required=True, help="merchant id (created when missing)")
    add.add_argument("--merchant-name", help="name for a merchant created here")
    add.add_argument("--store", required=True, help="store name shown on the device")
    add.set_defaults(handler=do_device_add)
    _config_option(device.add_parser("list")).set_defaults(handler=do_device_list)
    disable = _config_option(device.add_parser("disable", help="refuse the device's requests from now on"))
    disable.add_argument("--id", required=True)
    disable.set_defaults(handler=do_device_disable)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        args.handler(settings, args)
    except (CliError, SettingsError, AlreadyExists, NotFound, StorageError, ValueError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
