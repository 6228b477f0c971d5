"""Command line: run the server, manage merchants and devices.

    python -m server run [--config X.toml] [--host H] [--port P] [--port-file F] [--db postgresql://...|file.db]
                                       (--port 0: any free port, said in the log and written to F)
    python -m server merchant add --id M1 --name "Tea House" [--tier 2]
    python -m server merchant register --phone 13800138000 --name "老王茶馆" [--legal-name "..."]   (prints the id)
    python -m server merchant evidence add --id M1 --kind id_photo|business_licence|shop_photo --file photo.jpg
    python -m server merchant tier --id M1 --tier 3          (raising a tier needs its evidence on file)
    python -m server merchant status --id M1 --status suspended|active|closed
    python -m server merchant channel open --merchant M1 --channel wechat --account 1900000109 [--app-id wx...] [--fee-ppm 3800]
    python -m server merchant channel close|list --merchant M1 [--channel alipay]
    python -m server device add --id D0001 --merchant M1 --store "Tea House, Nanjing Rd"   (prints the key)
    python -m server device add --id D0002 --merchant M1 --store "..." --activation   (prints a one-time code)
    python -m server device activation-code --id D0002      (a new one-time code: the device gets a new key)
    python -m server device list
    python -m server device assign --id SP0001 --merchant M1 --store-id ST...   (a device in stock to a store)
    python -m server device install --id SP0001
    python -m server store add --merchant M1 --name "南京路店" [--address "..."]      (prints the store id)
    python -m server store list [--merchant M1]
    python -m server store update --id ST... --name "..." [--address "..."]
    python -m server store close --id ST...
    python -m server stock receive --serial SP0001 [--model box-e2] [--batch 2026-12] | --csv delivery.csv
    python -m server stock list
    python -m server code print --count 100 --pdf codes.pdf [--note "..."]      (a batch of empty static codes)
    python -m server code sheet --batch B... --pdf codes.pdf                       (a batch's PDF again)
    python -m server code bind --code 7K3M9QXA4B --store ST... [--device SP0001]
    python -m server code unbind|show --code 7K3M9QXA4B
    python -m server code replace --code 7K3M9QXA4B --new 9X2B4... [--reason lost|damaged|...]
    python -m server code deregister --code 7K3M9QXA4B --reason lost|damaged|shop_request|fraud|other
    python -m server code list [--merchant M1] [--store ST...] [--batch B...] [--status empty|bound|deregistered]
    python -m server device disable --id D0001
    python -m server device command --id D0001 --kind reboot [--args '{"text": "hi"}']
    python -m server device group --id D0001 --group pilot     (--no-group: in no group)
    python -m server rollout start --profile scan_box --version 1.4.0 --threshold 0.1 --share 0.05 [--min-settled 5]
    python -m server rollout stage R... --share 0.5 | --groups pilot,north [--last]
    python -m server rollout status R... [--json]
    python -m server rollout stop R... [--reason "bad batch"]
    python -m server rollout list
    python -m server console-user add USERNAME --role operator|merchant [--merchant M1] [--password-stdin]
    python -m server console-user password USERNAME [--password-stdin]     (ends the user's sessions)
    python -m server console-user disable|enable USERNAME
    python -m server console-user list
    python -m server reconcile --date 2026-11-21 [--channel alipay] [--out DIR]   (exit 1: differences)
    python -m server reconcile --month 2026-11 [--channel alipay] [--out DIR]     (the month's daily reports summed)
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import NoReturn

from aiohttp import web

from . import devices, listening, merchant_channels, merchants, rollouts, static_codes, stock, stores
from .app import create_app
from .devices import issue_activation_code, register_device
from .logs import setup_logging
from .settings import Settings, SettingsError, load_settings, sandbox_refusal
from .storage import AlreadyExists, Evidence, MerchantChannel, NotFound, StorageError, open_storage

PROG = "python -m server"
log = logging.getLogger("server.cli")


class CliError(Exception):
    """Printed as 'prog: message', exit status 1."""


class OneLineParser(argparse.ArgumentParser):
    """A mistake in the arguments is one line, Chinese first, exit status 2, not argparse's usage block
    (the subcommands' parsers are of the same class: argparse makes them with the parent's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: 参数有误 / bad arguments: {message} ({self.prog} --help)\n")


COMMAND_KINDS = ("reboot", "update_firmware", "show_message", "sync_orders")


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535), nor 0 (any free port)")
    return int(text)


def do_run(settings: Settings, args: argparse.Namespace) -> None:
    if args.db:
        settings = dataclasses.replace(settings, database=dataclasses.replace(settings.database, path=args.db))
    host = args.host or settings.server.host
    port = settings.server.port if args.port is None else args.port
    if args.port_file and not os.path.isdir(os.path.dirname(os.path.abspath(args.port_file))):
        raise CliError(f"端口文件的目录不存在 / no folder for the port file {args.port_file}")
    try:       # before the database is opened and migrated: a port taken is said plainly, not as a traceback
        listener = listening.bind(host, port)
    except OSError as e:
        raise CliError(f"无法监听 {host}:{port} / cannot listen on {host}:{port}: {e.strerror or e}") from None
    # ... and a server that would call a channel sandbox as if it were the channel (no config, or a copied
    # development one) does not start at all
    refusal = sandbox_refusal(settings, config_file=bool(args.config or os.environ.get("SCANPAY_CONFIG")))
    if refusal:
        raise CliError(refusal)
    if settings.server.sandbox:
        log.warning("沙箱模式（server.sandbox = true）：渠道是本机的沙箱，不会收到真钱 / sandbox mode "
                    "(server.sandbox = true): the channels are local sandboxes, no real money moves")
    # No access log: setup_logging() keeps aiohttp.access quiet anyway (the device API's own metrics and
    # logs say what happened), and skipping it spares every request the formatting.
    # keepalive_timeout also closes a connection that has not sent a whole request head in that time
    # (aiohttp arms it when the connection opens): the header read timeout.
    app = create_app(settings)
    listening.say_when_started(app, listener, args.port_file)
    web.run_app(app, sock=listener, print=None, access_log=None, keepalive_timeout=settings.server.idle_timeout_s)


def do_merchant_channel(settings: Settings, args: argparse.Namespace) -> None:
    """Open a merchant at a channel with its sub-merchant id there, close it, or list where it is open."""
    async def run() -> list[MerchantChannel]:
        async with open_storage(settings.database) as storage:
            if args.channel_action == "open":
                await merchant_channels.open_merchant(storage, settings, args.merchant, args.channel,
                                                      account_id=args.account or "", app_id=args.app_id,
                                                      fee_rate_ppm=args.fee_ppm, actor="cli")
            elif args.channel_action == "close":
                await merchant_channels.close_merchant(storage, args.merchant, args.channel, actor="cli")
            return await storage.merchant_channels(args.merchant)
    for record in asyncio.run(run()):
        mode = "service provider" if merchant_channels.is_service_provider(settings, record.channel) else "direct"
        fee = "-" if record.fee_rate_ppm is None else f"{record.fee_rate_ppm / 10_000:g}%"
        print(f"{record.channel}\t{record.status}\t{record.account_id or '-'}\t{record.app_id or '-'}\t{mode}"
              f"\tfee={fee}")


def do_merchant_add(settings: Settings, args: argparse.Namespace) -> None:
    async def add() -> None:
        async with open_storage(settings.database) as storage:
            await storage.add_merchant(args.id, args.name, args.tier)
    asyncio.run(add())
    print(f"merchant {args.id} added", file=sys.stderr)


def do_merchant_tier(settings: Settings, args: argparse.Namespace) -> None:
    """Verify a tier: raising one needs its evidence on file (merchant evidence add)."""
    async def set_tier() -> None:
        async with open_storage(settings.database) as storage:
            await merchants.verify_tier(storage, args.id, args.tier, actor=args.actor)
    asyncio.run(set_tier())
    print(f"merchant {args.id} verified at tier {args.tier}", file=sys.stderr)


def do_merchant_register(settings: Settings, args: argparse.Namespace) -> None:
    """A new merchant by its owner's mobile number (tier 1); prints its id."""
    async def register() -> str:
        async with open_storage(settings.database) as storage:
            merchant = await merchants.register(storage, phone=args.phone, short_name=args.name,
                                                legal_name=args.legal_name, merchant_id=args.id)
            return merchant.id
    print(asyncio.run(register()))


def do_merchant_status(settings: Settings, args: argparse.Namespace) -> None:
    async def change() -> None:
        async with open_storage(settings.database) as storage:
            await merchants.set_status(storage, args.id, args.status)
    asyncio.run(change())
    print(f"merchant {args.id} is {args.status}", file=sys.stderr)


def do_merchant_evidence(settings: Settings, args: argparse.Namespace) -> None:
    """Add a file that proves a tier, or list what is on file (kind, type, size, SHA-256, who, when)."""
    async def run() -> list[Evidence]:
        async with open_storage(settings.database) as storage:
            if args.evidence_action == "add":
                try:
                    data = Path(args.file).read_bytes()
                except OSError as e:
                    raise CliError(f"cannot read {args.file}: {e.strerror}") from None
                await merchants.add_evidence(storage, settings, args.id, args.kind, data, actor=args.actor)
            return await storage.list_evidence(args.id)
    for evidence in asyncio.run(run()):
        print(f"{evidence.id}\t{evidence.kind}\t{evidence.content_type}\t{evidence.size_bytes}\t{evidence.sha256}"
              f"\t{evidence.uploaded_by}")


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
        # the key's status, then the operator's lifecycle and any anti-switching flag (moved, cloned)
        print(f"{device.id}\t{device.merchant_id}\t{device.status}\t{device.store_name}\t{device.lifecycle}"
              f"\tflag={_dash(device.flag)}\t{health}")


def do_device_place(settings: Settings, args: argparse.Namespace) -> None:
    """A device in stock assigned to a merchant's store, or an assigned one marked installed."""
    async def run() -> None:
        async with open_storage(settings.database) as storage:
            if args.action == "assign":
                await devices.assign(storage, args.id, args.merchant, store_id=args.store_id, actor=args.actor)
            else:
                await devices.install(storage, args.id, actor=args.actor)
    try:
        asyncio.run(run())
    except devices.LifecycleRefused as e:
        raise CliError(str(e)) from None
    print(f"device {args.id} {args.action}ed" if args.action == "install" else f"device {args.id} assigned",
          file=sys.stderr)


def do_store(settings: Settings, args: argparse.Namespace) -> None:
    async def run() -> None:
        async with open_storage(settings.database) as storage:
            if args.store_action == "add":
                store = await stores.add(storage, args.merchant, args.name, address=args.address, actor=args.actor)
                print(store.id)
            elif args.store_action == "update":
                await stores.update(storage, args.id, name=args.name, address=args.address, actor=args.actor)
            elif args.store_action == "close":
                await stores.close(storage, args.id, actor=args.actor)
            else:
                for view in await stores.list_stores(storage, args.merchant):
                    print(f"{view.id}\t{view.merchant_id}\t{view.status}\tdevices={view.devices}\tcodes={view.codes}"
                          f"\t{view.name}\t{view.address or '-'}")
    asyncio.run(run())


def do_stock(settings: Settings, args: argparse.Namespace) -> None:
    """Devices received into stock by serial number (one, or a delivery's CSV file), or those in stock."""
    async def run() -> None:
        async with open_storage(settings.database) as storage:
            if args.stock_action == "list":
                for device in await storage.list_devices():
                    if device.lifecycle == "in_stock":
                        print(f"{device.id}\t{device.model or '-'}\t{device.stock_batch or '-'}\t"
                              f"{_dash(device.received_at)}")
                return
            if args.csv:
                try:
                    lines = stock.parse_csv(Path(args.csv).read_bytes())
                except OSError as e:
                    raise CliError(f"cannot read {args.csv}: {e.strerror}") from None
            elif args.serial:
                lines = [stock.check_line(args.serial, args.model or "")]
            else:
                raise CliError("give --serial or --csv")
            count = await stock.receive(storage, lines, batch=args.batch or "", actor=args.actor)
            print(f"{count} devices received into stock", file=sys.stderr)
    try:
        asyncio.run(run())
    except stock.StockFileRefused as e:
        raise CliError("nothing was received:\n" + "\n".join(f"  line {n}: {p}" for n, p in e.problems)) from None


def do_code(settings: Settings, args: argparse.Namespace) -> None:
    """Static codes: print a batch (with its PDF), bind one to a store, unbind, replace, deregister, list."""
    public_url = settings.device_api.public_url

    async def run() -> None:
        async with open_storage(settings.database) as storage:
            action = args.code_action
            if action in ("print", "sheet"):
                if action == "print":
                    batch, codes = await static_codes.print_batch(storage, args.count, note=args.note or "",
                                                                  actor=args.actor)
                    batch_id = batch.id
                else:
                    batch_id, codes = args.batch, await static_codes.batch_codes(storage, args.batch)
                    if not codes:
                        raise CliError(f"no batch {args.batch}")
                pdf = static_codes.batch_sheet(public_url, batch_id, codes)
                Path(args.pdf).write_bytes(pdf)
                for code in codes:
                    print(f"{code.id}\t{static_codes.code_url(public_url, code.id)}")
                print(f"batch {batch_id}: {len(codes)} codes on {args.pdf}", file=sys.stderr)
            elif action == "bind":
                await static_codes.bind(storage, args.code, store_id=args.store, device_id=args.device,
                                        actor=args.actor)
            elif action == "unbind":
                await static_codes.unbind(storage, args.code, actor=args.actor)
            elif action == "replace":
                await static_codes.replace(storage, args.code, args.new, reason=args.reason, actor=args.actor)
            elif action == "deregister":
                await static_codes.deregister(storage, args.code, reason=args.reason, actor=args.actor)
            if action in ("bind", "unbind", "replace", "deregister", "show"):
                code = await static_codes.get(storage, args.new if action == "replace" else args.code)
                if code is None:
                    raise CliError(f"no code {args.code}")
                codes = [code]
            elif action == "list":
                codes = await static_codes.list_codes(storage, merchant_id=args.merchant, store_id=args.store,
                                                      batch_id=args.batch, status=args.status)
            else:
                return
            for code in codes:
                print(f"{code.id}\t{code.status}\t{code.merchant_id or '-'}\t{code.store_id or '-'}\t"
                      f"{code.device_id or '-'}\t{code.batch_id or '-'}")
    asyncio.run(run())


def _dash(value) -> str:
    return "-" if value is None else str(value)


def do_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from .reconcile import run, run_month
    if args.month:
        return run_month(args.month, args.channel, args.out or settings.reconcile.out_dir)
    return run(settings, args.date, args.channel, args.out or settings.reconcile.out_dir)


def do_device_disable(settings: Settings, args: argparse.Namespace) -> None:
    async def disable() -> bool:
        async with open_storage(settings.database) as storage:
            return await storage.set_device_status(args.id, "disabled")
    if not asyncio.run(disable()):
        raise CliError(f"no device {args.id}")


def do_device_group(settings: Settings, args: argparse.Namespace) -> None:
    group = None if args.no_group else args.group
    if group is not None and not NAME.match(group):
        raise CliError("--group: 1-32 letters, digits, '_', '.' or '-'")

    async def change() -> bool:
        async with open_storage(settings.database) as storage:
            return await rollouts.set_device_group(storage, args.id, group)
    if not asyncio.run(change()):
        raise CliError(f"no device {args.id}")
    print(f"device {args.id} is in {'group ' + group if group else 'no group'}", file=sys.stderr)


# rollouts: the same rules as the operations API's /ops/v1/rollouts (server/views/ops_api.py)

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}\Z")      # profiles, versions, groups


def _stage_of(args: argparse.Namespace) -> tuple[float | None, list[str] | None]:
    if (args.share is None) == (args.groups is None):
        raise CliError("a stage has either --share or --groups")
    if args.share is not None and not 0 < args.share <= 1:
        raise CliError("--share must be in (0, 1]")
    groups = None
    if args.groups is not None:
        groups = [g.strip() for g in args.groups.split(",") if g.strip()]
        if not groups or not all(NAME.match(g) for g in groups):
            raise CliError("--groups: a comma-separated list of group names")
    return args.share, groups


async def _offer_stage(settings: Settings, storage, rollout: dict, share: float | None, groups: list[str] | None,
                       last: bool) -> int:
    if rollout["state"] == rollouts.STOPPED:
        raise CliError(f"rollout {rollout['id']} is stopped: {rollout['reason']}")
    if rollout["state"] != rollouts.RUNNING:
        raise CliError(f"rollout {rollout['id']} is {rollout['state']}: its last stage is out")
    try:
        return await rollouts.add_stage(storage, rollout, share=share, groups=groups,
                                        public_url=settings.device_api.public_url,
                                        url_ttl_s=settings.ops.firmware_url_ttl_s, last=last)
    except rollouts.RolloutError as e:
        raise CliError(str(e)) from None


async def _rollout(storage, rollout_id: str) -> dict:
    rollout = await rollouts.get_rollout(storage, rollout_id)
    if rollout is None:
        raise CliError(f"no rollout {rollout_id}")
    return rollout


def do_rollout_start(settings: Settings, args: argparse.Namespace) -> None:
    for option, value in (("--profile", args.profile), ("--version", args.version)):
        if not NAME.match(value):
            raise CliError(f"{option}: 1-32 letters, digits, '_', '.' or '-'")
    if not 0 <= args.threshold <= 1:
        raise CliError("--threshold must be in 0..1 (the share of settled devices that may fail)")
    min_settled = settings.ops.min_settled if args.min_settled is None else args.min_settled
    if min_settled < 1:
        raise CliError("--min-settled must be at least 1")
    share, groups = _stage_of(args)

    async def start() -> tuple[str, int]:
        async with open_storage(settings.database) as storage:
            if await rollouts.get_release(storage, args.profile, args.version) is None:
                raise CliError(f"{args.profile} {args.version} has not been published")
            rollout_id = await rollouts.create_rollout(storage, args.profile, args.version, args.threshold,
                                                       min_settled)
            count = await _offer_stage(settings, storage, await _rollout(storage, rollout_id), share, groups,
                                       args.last)
            return rollout_id, count
    rollout_id, count = asyncio.run(start())
    print(f"rollout of {args.profile} {args.version} started; stage 1 offered it to {count} devices", file=sys.stderr)
    print(rollout_id)


def do_rollout_stage(settings: Settings, args: argparse.Namespace) -> None:
    share, groups = _stage_of(args)

    async def stage() -> tuple[int, int]:
        async with open_storage(settings.database) as storage:
            rollout = await _rollout(storage, args.id)
            return rollout["stages"] + 1, await _offer_stage(settings, storage, rollout, share, groups, args.last)
    number, count = asyncio.run(stage())
    print(f"stage {number} offered the build to {count} more devices", file=sys.stderr)


def do_rollout_status(settings: Settings, args: argparse.Namespace) -> None:
    async def read() -> dict:
        async with open_storage(settings.database) as storage:
            return await rollouts.status(storage, await _rollout(storage, args.id))
    counts = asyncio.run(read())
    if args.json:
        print(json.dumps(counts, ensure_ascii=False, indent=2))
        return
    columns = ("offered", "installing", "updated", "failed", "rolled_back", "withdrawn")
    print(f"{counts['id']}  {counts['profile']} {counts['version']}  {counts['state']}"
          f"  (stops above {100 * counts['failure_threshold']:.1f}% failed)")
    if counts["reason"]:
        print(f"reason: {counts['reason']}")
    print("stage\t" + "\t".join(columns))
    for stage in counts["stages"]:
        print(f"{stage['stage']}\t" + "\t".join(str(stage[c]) for c in columns))
    print("total\t" + "\t".join(str(counts[c]) for c in columns))


def do_rollout_stop(settings: Settings, args: argparse.Namespace) -> None:
    if len(args.reason) > 500:
        raise CliError("--reason: at most 500 characters")

    async def stop() -> tuple[bool, dict]:
        async with open_storage(settings.database) as storage:
            await _rollout(storage, args.id)
            stopped = await rollouts.stop(storage, args.id, args.reason)
            return stopped, await _rollout(storage, args.id)
    stopped, rollout = asyncio.run(stop())
    if not stopped:
        raise CliError(f"rollout {args.id} is {rollout['state']} already"
                       + (f": {rollout['reason']}" if rollout["reason"] else ""))
    print(f"rollout {args.id} stopped; offers not taken yet are withdrawn", file=sys.stderr)


def do_rollout_list(settings: Settings, args: argparse.Namespace) -> None:
    async def rows() -> list[dict]:
        async with open_storage(settings.database) as storage:
            return await rollouts.list_rollouts(storage)
    for row in asyncio.run(rows()):
        started = datetime.datetime.fromtimestamp(row["created_at"] / 1000, datetime.timezone.utc)
        print(f"{row['id']}\t{row['profile']}\t{row['version']}\t{row['state']}\tstages={row['stages']}"
              f"\t{started:%Y-%m-%d %H:%M}Z")


def _read_password(args: argparse.Namespace) -> str:
    from .console.auth import check_new_password
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the passwords differ")
    check_new_password(password)
    return password


def do_console_user_add(settings: Settings, args: argparse.Namespace) -> None:
    from .clock import now_ms
    from .console import auth, queries
    if (args.role == "merchant") != (args.merchant is not None):
        raise CliError("--merchant is required for a merchant user, and only for one")
    password_hash = auth.hash_password(_read_password(args))

    async def add() -> None:
        async with open_storage(settings.database) as storage:
            await queries.add_user(storage, args.username, password_hash, args.role, args.merchant, now_ms())
    asyncio.run(add())
    print(f"console user {args.username} added ({args.role})", file=sys.stderr)


def do_console_user_password(settings: Settings, args: argparse.Namespace) -> None:
    from .console import auth, queries
    password_hash = auth.hash_password(_read_password(args))

    async def change() -> bool:
        async with open_storage(settings.database) as storage:
            return await storage.set_console_password(args.username, password_hash)
    if not asyncio.run(change()):
        raise CliError(f"no console user {args.username}")


def do_console_user_disable(settings: Settings, args: argparse.Namespace) -> None:
    from .console import queries

    async def change() -> bool:
        async with open_storage(settings.database) as storage:
            return await storage.set_console_user_disabled(args.username, args.action == "disable")
    if not asyncio.run(change()):
        raise CliError(f"no console user {args.username}")


def do_console_user_list(settings: Settings, args: argparse.Namespace) -> None:
    from .console import queries

    async def rows():
        async with open_storage(settings.database) as storage:
            return await storage.list_console_users()
    for row in asyncio.run(rows()):
        state = "disabled" if row["disabled"] else "active"
        print(f"{row['username']}\t{row['role']}\t{row['merchant_id'] or '-'}\t{state}")


def _stage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--share", type=float, help="(0, 1]: cumulative share of the profile's active devices")
    parser.add_argument("--groups", help="comma-separated device groups")
    parser.add_argument("--last", action="store_true", help="no stage follows: complete once all have settled")


def _config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    # Accepted after the command too: `python -m server run --config X.toml`.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="scanpay payment server")
    parser.add_argument("--config", help="TOML config file (default: $SCANPAY_CONFIG, else built-in defaults)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="serve the device API")
    _config_option(run)
    run.add_argument("--host")
    run.add_argument("--port", type=_port, help="1-65535, or 0: any free one (default: [server] port)")
    run.add_argument("--port-file", metavar="PATH",
                     help="once serving, write the port to PATH (whole, by a rename): for --port 0")
    run.add_argument("--db", help="database: a SQLite file or a postgresql:// URL (overrides [database] path)")
    run.set_defaults(handler=do_run)

    merchant = commands.add_parser("merchant", help="manage merchants").add_subparsers(dest="action", required=True)
    add = _config_option(merchant.add_parser("add"))
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--tier", type=int, choices=(1, 2, 3), default=1, help="verification tier (daily cap)")
    add.set_defaults(handler=do_merchant_add)
    register = _config_option(merchant.add_parser("register", help="a new merchant by its owner's mobile number"))
    register.add_argument("--phone", required=True, help="the owner's mainland mobile number (unique)")
    register.add_argument("--name", required=True, help="the short name payers see")
    register.add_argument("--legal-name", help="as on the business licence or ID")
    register.add_argument("--id", help="the merchant id (default: made up, M and 10 digits)")
    register.set_defaults(handler=do_merchant_register)
    status = _config_option(merchant.add_parser("status", help="suspend, re-activate or close a merchant"))
    status.add_argument("--id", required=True)
    status.add_argument("--status", required=True, choices=merchants.STATUSES)
    status.set_defaults(handler=do_merchant_status)
    evidence = merchant.add_parser("evidence", help="files that prove a verification tier")
    evidence_actions = evidence.add_subparsers(dest="evidence_action", required=True)
    added = _config_option(evidence_actions.add_parser("add", help="store a JPEG, PNG or PDF"))
    added.add_argument("--id", required=True, help="merchant id")
    added.add_argument("--kind", required=True, choices=merchants.EVIDENCE_KINDS)
    added.add_argument("--file", required=True)
    added.add_argument("--actor", default="cli", help="who uploads it (kept with the file)")
    listed = _config_option(evidence_actions.add_parser("list"))
    listed.add_argument("--id", required=True, help="merchant id")
    for sub in (added, listed):
        sub.set_defaults(handler=do_merchant_evidence)
    tier = _config_option(merchant.add_parser(
        "tier", help="verify a merchant's tier (raising it needs that tier's evidence on file)"))
    tier.add_argument("--actor", default="cli", help="who verified it (kept with the tier)")
    tier.add_argument("--id", required=True)
    tier.add_argument("--tier", type=int, choices=(1, 2, 3), required=True)
    tier.set_defaults(handler=do_merchant_tier)
    channel = merchant.add_parser("channel", help="a merchant's own account at a payment channel")
    channel_actions = channel.add_subparsers(dest="channel_action", required=True)
    opened = _config_option(channel_actions.add_parser(
        "open", help="open the merchant at a channel (service-provider mode: with its sub-merchant id)"))
    opened.add_argument("--merchant", required=True)
    opened.add_argument("--channel", required=True, choices=merchant_channels.CHANNELS)
    opened.add_argument("--account", help="WeChat sub_mch_id, Alipay smid (2088...), UnionPay merId")
    opened.add_argument("--app-id", help="WeChat sub_appid, when the shop has its own official account")
    opened.add_argument("--fee-ppm", type=int, help="the contracted fee in parts per million (0.38%% is 3800)")
    closed = _config_option(channel_actions.add_parser("close", help="the merchant takes no more payments there"))
    closed.add_argument("--merchant", required=True)
    closed.add_argument("--channel", required=True, choices=merchant_channels.CHANNELS)
    listed = _config_option(channel_actions.add_parser("list", help="where the merchant has a record"))
    listed.add_argument("--merchant", required=True)
    for sub in (opened, closed, listed):
        sub.set_defaults(handler=do_merchant_channel)

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

    placed = _config_option(device.add_parser("assign", help="a device in stock to a merchant's store"))
    placed.add_argument("--id", required=True)
    placed.add_argument("--merchant", required=True)
    placed.add_argument("--store-id", required=True, help="the store's id (store list)")
    installed = _config_option(device.add_parser("install", help="an assigned device stands at its store now"))
    installed.add_argument("--id", required=True)
    for sub in (placed, installed):
        sub.add_argument("--actor", default="cli", help="who did it (kept in the device's history)")
        sub.set_defaults(handler=do_device_place)

    group = _config_option(device.add_parser("group", help="put a device in a group (rollout stages by group)"))
    group.add_argument("--id", required=True)
    which = group.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", help="group name")
    which.add_argument("--no-group", action="store_true", help="in no group")
    group.set_defaults(handler=do_device_group)

    store = commands.add_parser("store", help="a merchant's stores").add_subparsers(dest="store_action", required=True)
    added = _config_option(store.add_parser("add", help="a new store; prints its id"))
    added.add_argument("--merchant", required=True)
    changed = _config_option(store.add_parser("update", help="a new name or address"))
    changed.add_argument("--id", required=True)
    for sub in (added, changed):
        sub.add_argument("--name", required=True)
        sub.add_argument("--address", default="")
    shut = _config_option(store.add_parser("close", help="once no device or code is placed there"))
    shut.add_argument("--id", required=True)
    listed = _config_option(store.add_parser("list"))
    listed.add_argument("--merchant")
    for sub in (added, changed, shut, listed):
        sub.add_argument("--actor", default="cli")
        sub.set_defaults(handler=do_store)

    stock_parser = commands.add_parser("stock", help="devices received from the factory").add_subparsers(
        dest="stock_action", required=True)
    receive = _config_option(stock_parser.add_parser("receive", help="by serial number, or a CSV file serial,model"))
    one_or_file = receive.add_mutually_exclusive_group(required=True)
    one_or_file.add_argument("--serial")
    one_or_file.add_argument("--csv", help="a delivery's file: header serial,model then a device per line")
    receive.add_argument("--model")
    receive.add_argument("--batch", help="the delivery's name")
    receive.add_argument("--actor", default="cli")
    receive.set_defaults(handler=do_stock)
    _config_option(stock_parser.add_parser("list", help="devices in stock")).set_defaults(handler=do_stock)

    code = commands.add_parser("code", help="static QR codes").add_subparsers(dest="code_action", required=True)
    printed = _config_option(code.add_parser("print", help="a batch of empty codes and its PDF sheet"))
    printed.add_argument("--count", type=int, required=True)
    printed.add_argument("--note")
    printed.add_argument("--pdf", required=True, help="where to write the sheet")
    sheet = _config_option(code.add_parser("sheet", help="a printed batch's PDF sheet again"))
    sheet.add_argument("--batch", required=True)
    sheet.add_argument("--pdf", required=True)
    bound = _config_option(code.add_parser("bind", help="an empty code to a store (and the device that says it)"))
    bound.add_argument("--store", required=True)
    bound.add_argument("--device")
    unbound = _config_option(code.add_parser("unbind", help="a code bound by mistake: empty again"))
    shown = _config_option(code.add_parser("show"))
    replaced = _config_option(code.add_parser("replace", help="a lost code's store taken over by an empty code"))
    replaced.add_argument("--new", required=True)
    replaced.add_argument("--reason", default="lost", choices=static_codes.END_REASONS)
    ended = _config_option(code.add_parser("deregister", help="a code never takes money again"))
    ended.add_argument("--reason", required=True, choices=static_codes.END_REASONS)
    for sub in (bound, unbound, shown, replaced, ended):
        sub.add_argument("--code", required=True)
    listed = _config_option(code.add_parser("list"))
    for option in ("--merchant", "--store", "--batch"):
        listed.add_argument(option)
    listed.add_argument("--status", choices=("empty", "bound", "deregistered"))
    for sub in (printed, sheet, bound, unbound, shown, replaced, ended, listed):
        sub.add_argument("--actor", default="cli")
        sub.set_defaults(handler=do_code)

    rollout = commands.add_parser("rollout", help="staged firmware rollouts").add_subparsers(dest="action",
                                                                                               required=True)
    start = _config_option(rollout.add_parser("start", help="start a rollout of a published build: its first stage"))
    start.add_argument("--profile", required=True)
    start.add_argument("--version", required=True)
    start.add_argument("--threshold", type=float, required=True,
                       help="0..1: stop once this share of settled devices failed or rolled back")
    start.add_argument("--min-settled", type=int, help="judge the threshold only from this many settled devices on")
    _stage_options(start)
    start.set_defaults(handler=do_rollout_start)
    stage = _config_option(rollout.add_parser("stage", help="offer the build to more devices"))
    stage.add_argument("id")
    _stage_options(stage)
    stage.set_defaults(handler=do_rollout_stage)
    show = _config_option(rollout.add_parser("status", help="devices per stage and state"))
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="as the operations API answers")
    show.set_defaults(handler=do_rollout_status)
    halt = _config_option(rollout.add_parser("stop", help="stop it; offers not taken yet are withdrawn"))
    halt.add_argument("id")
    halt.add_argument("--reason", default="stopped by an operator")
    halt.set_defaults(handler=do_rollout_stop)
    _config_option(rollout.add_parser("list", help="every rollout, newest first")).set_defaults(
        handler=do_rollout_list)

    console_user = commands.add_parser("console-user", help="manage web console users").add_subparsers(
        dest="action", required=True)
    add = _config_option(console_user.add_parser("add", help="add a console user (asks for the password)"))
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("operator", "merchant"))
    add.add_argument("--merchant", help="merchant id (merchant users: they see only this merchant's data)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin")
    add.set_defaults(handler=do_console_user_add)
    password = _config_option(console_user.add_parser("password", help="set a new password (ends its sessions)"))
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of stdin")
    password.set_defaults(handler=do_console_user_password)
    for action in ("disable", "enable"):
        toggle = _config_option(console_user.add_parser(action, help=f"{action} a console user"))
        toggle.add_argument("username")
        toggle.set_defaults(handler=do_console_user_disable)
    _config_option(console_user.add_parser("list")).set_defaults(handler=do_console_user_list)

    reconcile = _config_option(commands.add_parser(
        "reconcile", help="compare the channels' daily bills with the orders (exit 1 on differences)"))
    when = reconcile.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=datetime.date.fromisoformat, help="YYYY-MM-DD, China time")
    when.add_argument("--month", help="YYYY-MM: add up the month's daily reports (per channel and merchant)")
    reconcile.add_argument("--channel", action="append", help="only this channel (repeatable; default: all active)")
    reconcile.add_argument("--out", help="report folder, a file per date and channel (default: [reconcile] out_dir)")
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
