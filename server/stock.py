"""Stock-in: devices received from the factory by serial number, one or a delivery's CSV file at a time,
before any merchant is known. They wait `in_stock` (no merchant, no key) until an operator assigns one to
a merchant's store (server/devices/lifecycle.py `assign`) and a technician activates it there.

The serial number is the device's id from then on: the device API, the console and the activation code
all name it. A CSV file is taken whole or not at all: every bad line is reported, nothing is stored.

    serial,model            (a header line; `model` may be left out or empty)
    SP2026000001,box-e2
    SP2026000002,box-e2
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .clock import now_ms
from .device_auth import DEVICE_ID
from .params import fits, is_text
from .refusals import N_, Refused
from .storage import Storage

MODEL_MAX = 32
BATCH_MAX = 64
CSV_MAX_LINES = 10_000           # a delivery; bigger ones are split
CSV_MAX_BYTES = 1024 * 1024
_REPORTED = 20                   # bad lines named in one refusal


class StockRefused(Refused):
    pass


class StockFileRefused(StockRefused):
    """Some lines of a file are bad: `problems` lists (line number, refusal) for the first 20."""

    def __init__(self, problems: list[tuple[int, StockRefused]]):
        self.problems = problems[:_REPORTED]
        super().__init__(N_("%(count)d lines of the file are wrong; nothing was received"), count=len(problems))
        self.args = ("; ".join(f"line {n}: {e}" for n, e in self.problems),)


@dataclass(frozen=True)
class StockLine:
    line: int                    # in the file, 1 = the header (0: typed in, not from a file)
    serial: str
    model: str


def check_line(serial: str, model: str = "", *, line: int = 0) -> StockLine:
    serial, model = (serial or "").strip(), (model or "").strip()
    if not fits(serial, DEVICE_ID):
        raise StockRefused(N_("a serial number is 1 to 32 letters, digits, - or _: %(serial)r"), serial=serial[:40])
    if model and not is_text(model, MODEL_MAX):
        raise StockRefused(N_("a model is at most %(max)d characters of text"), max=MODEL_MAX)
    return StockLine(line, serial, model)


def parse_csv(data: bytes) -> list[StockLine]:
    """The lines of a stock-in file (UTF-8, with or without a BOM, as Excel saves it); StockRefused naming
    every bad line (the first 20) when any is bad."""
    if len(data) > CSV_MAX_BYTES:
        raise StockRefused(N_("a stock-in file is at most %(max)d bytes: split the delivery"), max=CSV_MAX_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StockRefused(N_("the file is not UTF-8 text: save it as CSV UTF-8")) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [cell.strip().lower() for cell in rows[0][:2]] not in (["serial"], ["serial", "model"]):
        raise StockRefused(N_("the first line must be the header serial,model"))
    lines, problems, seen = [], [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) > 2:
                raise StockRefused(N_("a line has a serial number and a model, nothing more"))
            line = check_line(row[0], row[1] if len(row) > 1 else "", line=number)
            if line.serial in seen:
                raise StockRefused(N_("serial %(serial)s is on line %(first)d already"), serial=line.serial,
                                   first=seen[line.serial])
            seen[line.serial] = number
            lines.append(line)
        except StockRefused as e:
            problems.append((number, e))
    if len(lines) + len(problems) > CSV_MAX_LINES:
        raise StockRefused(N_("a stock-in file has at most %(max)d devices: split the delivery"), max=CSV_MAX_LINES)
    if problems:
        raise StockFileRefused(problems)
    if not lines:
        raise StockRefused(N_("the file lists no device"))
    return lines


async def receive(storage: Storage, lines: list[StockLine], *, batch: str = "", actor: str) -> int:
    """Every line's device into stock, or none (StockRefused naming the serial numbers known already)."""
    batch = (batch or "").strip()
    if batch and not is_text(batch, BATCH_MAX):
        raise StockRefused(N_("a batch name is at most %(max)d characters of text"), max=BATCH_MAX)
    if not lines:
        raise StockRefused(N_("no device to receive"))
    twice = sorted({line.serial for line in lines if sum(other.serial == line.serial for other in lines) > 1})
    if twice:
        raise StockRefused(N_("serial numbers listed twice: %(serials)s"), serials=", ".join(twice[:_REPORTED]))
    known = await storage.receive_into_stock([(line.serial, line.model) for line in lines], batch=batch, actor=actor,
                                             now=now_ms())
    if known:
        raise StockRefused(N_("%(count)d serial numbers are known already: %(serials)s"), count=len(known),
                           serials=", ".join(known[:_REPORTED]) + (" …" if len(known) > _REPORTED else ""))
    return len(lines)
