"""What every channel sandbox shares: the ledger, the fee, held and dropped answers, the registry of known
sub-merchants, serving on loopback."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

CHINA = datetime.timezone(datetime.timedelta(hours=8))   # the channels' bills run on Beijing time

# The sandboxes' merchant fee: 0.6 %, rounded half-up to the fen, as the channels round it.
FEE_RATE = Decimal("0.006")


def fee_of(amount_fen: int) -> int:
    return int((Decimal(amount_fen) * FEE_RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def china_now() -> datetime.datetime:
    return datetime.datetime.now(CHINA).replace(microsecond=0)


@dataclass(frozen=True)
class Charge:
    out_trade_no: str
    amount_fen: int
    channel_trade_no: str
    at: datetime.datetime = field(default_factory=china_now, compare=False)
    refund_no: str = ""        # for refunds: the merchant's refund number
    merchant: str = ""         # the sub-merchant whose money it is; "" for the acquirer's own account (direct)

    # WeChat's names, used by the older WeChat tests
    @property
    def total_fee(self) -> int:
        return self.amount_fen

    @property
    def transaction_id(self) -> str:
        return self.channel_trade_no


@dataclass
class Ledger:
    orders: dict[str, Any] = field(default_factory=dict)
    charges: list[Charge] = field(default_factory=list)      # money taken from payers
    refunds: list[Charge] = field(default_factory=list)      # money given back (refund, or reverse of a paid order)
    reversals: list[str] = field(default_factory=list)       # out_trade_no of every order reversed / cancelled
    calls: list[tuple[str, str]] = field(default_factory=list)   # (operation, out_trade_no) of every valid call

    def charges_for(self, out_trade_no: str) -> list[Charge]:
        return [c for c in self.charges if c.out_trade_no == out_trade_no]

    def charges_of(self, merchant: str) -> list[Charge]:
        """The money taken into one sub-merchant's account ("" : the acquirer's own)."""
        return [c for c in self.charges if c.merchant == merchant]

    def refunds_of(self, merchant: str) -> list[Charge]:
        return [r for r in self.refunds if r.merchant == merchant]

    def calls_to(self, operation: str, out_trade_no: str | None = None) -> int:
        return sum(1 for p, t in self.calls if p == operation and (out_trade_no is None or t == out_trade_no))

    def bill_of(self, day: datetime.date, merchant: str | None = None) -> tuple[list[Charge], list[Charge]]:
        """Charges and refunds made on `day` (Beijing time): one sub-merchant's, or with None everyone's."""
        return ([c for c in self.charges if c.at.astimezone(CHINA).date() == day and merchant in (None, c.merchant)],
                [r for r in self.refunds if r.at.astimezone(CHINA).date() == day and merchant in (None, r.merchant)])


@dataclass(frozen=True)
class KnownSubMerchant:
    """A merchant the acquirer registered at the channel (WeChat 特约商户, Alipay 间连 smid, UnionPay merId)."""

    account_id: str
    app_ids: frozenset[str] = frozenset()     # WeChat: the sub_appids bound to it


class SubMerchants:
    """Each sandbox's registry of the sub-merchants it knows; a request naming another is refused, as the real
    channel refuses it. A request naming none is the acquirer's own (direct mode)."""

    def __init__(self) -> None:
        self._known: dict[str, KnownSubMerchant] = {}

    def add(self, account_id: str, app_id: str | None = None) -> KnownSubMerchant:
        known = self._known.get(account_id) or KnownSubMerchant(account_id)
        if app_id:
            known = KnownSubMerchant(account_id, known.app_ids | {app_id})
        self._known[account_id] = known
        return known

    def get(self, account_id: str) -> KnownSubMerchant | None:
        return self._known.get(account_id)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._known

    def __len__(self) -> int:
        return len(self._known)


def sub_merchants_from(channel: str, file: str | None = None,
                       flags: list[str] | None = None) -> list[tuple[str, str | None]]:
    """The (account_id, app_id) pairs a standalone sandbox is given: from a JSON file, either
    `{"wechat": [{"account_id": "1900000109", "app_id": "wx..."}], "alipay": [...], "unionpay": [...]}` (one file
    for all three sandboxes) or a plain list of such objects; and from `--sub-merchant ACCOUNT[:APP_ID]` flags."""
    pairs: list[tuple[str, str | None]] = []
    if file:
        with open(file, encoding="utf-8") as f:
            document = json.load(f)
        entries = document.get(channel, []) if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise ValueError(f"{file}: {channel} must be a list of sub-merchants")
        for entry in entries:
            if isinstance(entry, str):
                entry = {"account_id": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("account_id"), str) or not entry["account_id"]:
                raise ValueError(f"{file}: each sub-merchant needs an account_id")
            pairs.append((entry["account_id"], entry.get("app_id") or None))
    for flag in flags or []:
        account_id, _, app_id = flag.partition(":")
        if not account_id:
            raise ValueError(f"--sub-merchant {flag!r}: ACCOUNT[:APP_ID]")
        pairs.append((account_id, app_id or None))
    return pairs


class Holds:
    """Pay calls held without an answer (the no-answer scenario), released when the sandbox stops."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    async def hold(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds if seconds > 0 else None)

    def release_all(self) -> None:
        self._stopping.set()


class DropConnection(Exception):
    """Raised by an operation that has done its work but must not answer (the lost-answer scenario)."""


def drop(request: web.Request) -> web.Response:
    """Close the connection without a byte of answer, as a lost packet or a crashed proxy would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)   # never reaches the client


@contextlib.asynccontextmanager
async def serve(app: web.Application, holds: Holds, host: str, port: int) -> AsyncIterator[str]:
    """Serve `app` on host:port (0 = any free port); yields the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        holds.release_all()
        await runner.cleanup()


@contextlib.asynccontextmanager
async def run_sandbox(sandbox: Any, host: str, port: int) -> AsyncIterator[Any]:
    """Serve a sandbox on host:port (0 = any free port); `sandbox.base_url` says where."""
    async with serve(sandbox.make_app(), sandbox.holds, host, port) as base_url:
        sandbox.base_url = base_url
        yield sandbox


def run_standalone(prog: str, title: str, default_port: int, make_sandbox: Any,
                   argv: list[str] | None = None, add_arguments: Any = None) -> None:
    """`python -m ...`: one sandbox on a fixed port (or any free one: --port 0, written to --port-file once it
    serves) until Ctrl-C. make_sandbox(args) builds it."""
    import os
    from urllib.parse import urlsplit

    from server.listening import write_port_file
    from tools.one_line_args import OneLineParser, port_number
    parser = OneLineParser(prog=prog, description=title)     # a mistake is one line, Chinese first
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port_number, default=default_port, help="0: any free one")
    parser.add_argument("--port-file", metavar="PATH", help="once serving, write the port to PATH")
    parser.add_argument("--sub-merchants", metavar="FILE",
                        help="JSON: the sub-merchants this sandbox knows (see sub_merchants_from)")
    parser.add_argument("--sub-merchant", action="append", default=[], metavar="ACCOUNT[:APP_ID]",
                        help="a sub-merchant this sandbox knows; repeat for more")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.port_file and not os.path.isdir(os.path.dirname(os.path.abspath(args.port_file))):
        parser.exit(1, f"{prog}: 端口文件的目录不存在 / no folder for the port file {args.port_file}\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sandbox = make_sandbox(args)
    try:
        for account_id, app_id in sub_merchants_from(sandbox.name, args.sub_merchants, args.sub_merchant):
            sandbox.add_sub_merchant(account_id, app_id)
    except (OSError, ValueError) as e:
        parser.exit(1, f"{prog}: {e}\n")

    async def run() -> None:
        async with run_sandbox(sandbox, args.host, args.port) as sandbox_:
            print(f"{title} at {sandbox_.base_url} ({len(sandbox_.sub_merchants)} sub-merchants)", flush=True)
            if args.port_file:
                write_port_file(args.port_file, urlsplit(sandbox_.base_url).port)
            await asyncio.Event().wait()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    except OSError as e:      # the port taken, the host not this machine's: one line, not a traceback
        parser.exit(1, f"{prog}: 端口 {args.port} 无法监听 / cannot listen on {args.host}:{args.port}: "
                       f"{e.strerror or e}\n")
