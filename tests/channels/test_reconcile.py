"""Reconciliation: real bills from the sandboxes against the real orders table, with planted differences."""
import asyncio
import dataclasses
import datetime
import sys

from hw_sim import test_codes
from hw_sim.sandbox import keys as sandbox_keys
from hw_sim.sandbox.common import CHINA, Charge
from server.channels import BillRow, BillStatus
from server.keys import STORAGE
from server.reconcile import EXIT_DIFFERENCES, EXIT_OK, Difference, compare, exit_status, reconcile
from server.storage import CLOSED, PAYING, REFUND_SUCCESS, SUCCESS, Order, Refund

MAKERS = {"wechat": test_codes.make_wechat_code, "alipay": test_codes.make_alipay_code,
          "unionpay": test_codes.make_unionpay_code}


async def pay_some(stack):
    """Two paid orders per channel through the device API; their trade_no by channel."""
    paid = {}
    for channel, make in MAKERS.items():
        for n, amount in enumerate((1250, 99)):
            status, body = await stack["call"]("pay", {"order_no": f"{channel}-{n}", "amount_fen": amount,
                                                       "auth_code": make()})
            assert body["order"]["status"] == "SUCCESS", body
            stored = await stack["app"][STORAGE].get_order("D1", f"{channel}-{n}")
            paid.setdefault(channel, []).append(stored.trade_no)
    return paid


def plant(stack, paid):
    """One fen less on an Alipay payment, an Alipay payment we never made, a WeChat payment missing."""
    ledger = stack["alipay"].ledger
    i = next(i for i, c in enumerate(ledger.charges) if c.out_trade_no == paid["alipay"][0])
    ledger.charges[i] = dataclasses.replace(ledger.charges[i], amount_fen=ledger.charges[i].amount_fen - 1)
    ledger.charges.append(Charge("SP20260101000000planted00000000", 500, "2026010122001000000000000000"))
    wechat = stack["wechat"].ledger
    wechat.charges[:] = [c for c in wechat.charges if c.out_trade_no != paid["wechat"][1]]


async def test_planted_differences_are_reported_and_files_written(stack, tmp_path):
    paid = await pay_some(stack)
    today = datetime.datetime.now(CHINA).date()
    clean = await reconcile(stack["settings"], today, out_dir=tmp_path / "clean")
    assert [r.ok for r in clean] == [True, True, True] and exit_status(clean) == EXIT_OK
    assert {r.channel: (r.bill_payments, r.paid_fen, r.fee_fen) for r in clean} == {
        "wechat": (2, 1349, 8 + 1), "alipay": (2, 1349, 9), "unionpay": (2, 1349, 9)}

    plant(stack, paid)
    reports = {r.channel: r for r in await reconcile(stack["settings"], today, out_dir=tmp_path)}
    assert reports["alipay"].differences == [
        Difference("amount", paid["alipay"][0], "1250 fen", "1249 fen"),
        Difference("missing_in_orders", "SP20260101000000planted00000000", "-", "paid 500 fen")]
    assert reports["wechat"].differences == [Difference("missing_in_bill", paid["wechat"][1], "SUCCESS 99 fen", "-")]
    assert reports["unionpay"].ok
    assert exit_status(list(reports.values())) == EXIT_DIFFERENCES
    text = (tmp_path / today.isoformat() / "alipay.txt").read_text()
    assert "2 DIFFERENCES" in text and f"amount\t{paid['alipay'][0]}\t-\t1250 fen\t1249 fen" in text
    assert (tmp_path / today.isoformat() / "unionpay.txt").read_text().splitlines()[0].endswith(": OK")


async def test_cli_exits_non_zero_on_differences(stack, tmp_path):
    paid = await pay_some(stack)
    plant(stack, paid)
    settings = stack["settings"]
    config = tmp_path / "scanpay.toml"
    config.write_text(f'''
[database]
path = "{settings.database.path}"
[reconcile]
out_dir = "{tmp_path / 'out'}"
[channels.wechat]
base_url = "{stack['wechat'].base_url}"
[channels.alipay]
enabled = true
base_url = "{stack['alipay'].base_url}"
app_id = "{settings.channels.alipay.app_id}"
app_private_key = """{sandbox_keys.ALIPAY_APP_PRIVATE_KEY}"""
alipay_public_key = """{sandbox_keys.ALIPAY_PLATFORM_PUBLIC_KEY}"""
''')
    today = datetime.datetime.now(CHINA).date().isoformat()

    async def cli(*channels):
        args = [a for c in channels for a in ("--channel", c)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "reconcile", "--config", str(config), "--date", today,
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await cli("alipay")
    assert code == 1, err
    assert "alipay" in out and "missing_in_orders\tSP20260101000000planted00000000" in out
    assert (tmp_path / "out" / today / "alipay.txt").exists()          # where [reconcile] out_dir says
    code, out, err = await cli("wechat", "alipay")
    assert code == 1 and "missing_in_bill" in out
    code, out, err = await cli("unionpay")            # not enabled in this config
    assert code == 1 and "not active" in err


NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=CHINA)
MS = int(NOW.timestamp() * 1000)


def order(trade_no, amount=1000, status=SUCCESS, finished_delta_ms=0, **kw):
    return Order(id="id-" + trade_no, device_id="D1", order_no=trade_no, trade_no=trade_no, amount_fen=amount,
                 channel="alipay", status=status, auth_code_hash="", auth_code_masked="", created_at=MS,
                 deadline_at=MS + 25000, finished_at=MS + finished_delta_ms if status != PAYING else None, **kw)


def row(trade_no, amount=1000, status=BillStatus.SUCCESS, fee=6, refund_no=None):
    return BillRow(trade_no=trade_no, channel_trade_no="X" + trade_no, amount_fen=amount, status=status, fee_fen=fee,
                   time="2026-11-21 12:00:00", refund_no=refund_no)


def test_status_difference_and_midnight_tolerance():
    day = NOW.date()
    late = order("T3", finished_delta_ms=12 * 3600_000 + 5000)       # finished 00:00:05 the next day
    report = compare("alipay", day, [row("T1"), row("T2")], [order("T1"), order("T2", status=CLOSED), late], {})
    assert report.differences == [Difference("status", "T2", "CLOSED", "paid")]
    # the next day's bill has T3 and is clean for it
    next_day = compare("alipay", day + datetime.timedelta(days=1), [row("T3")], [late], {})
    assert next_day.ok


def test_refunds_missing_and_amounts():
    paid = order("T1", refunded_fen=300)
    refunds = {paid.id: [Refund(id="r1", order_id=paid.id, device_id="D1", refund_no="1", refund_trade_no="RF1",
                                amount_fen=300, status=REFUND_SUCCESS, created_at=MS, finished_at=MS),
                         Refund(id="r2", order_id=paid.id, device_id="D1", refund_no="2", refund_trade_no="RF2",
                                amount_fen=200, status=REFUND_SUCCESS, created_at=MS, finished_at=MS)]}
    bill = [row("T1"), row("T1", amount=299, status=BillStatus.REFUND, fee=-2, refund_no="RF1"),
            row("T1", amount=100, status=BillStatus.REFUND, fee=0, refund_no="RF9")]
    report = compare("alipay", NOW.date(), bill, [paid], refunds)
    assert report.differences == [
        Difference("refund_amount", "T1", "300 fen", "299 fen", refund_no="RF1"),
        Difference("refund_missing_in_bill", "T1", "refunded 200 fen", "-", refund_no="RF2"),
        Difference("refund_missing_in_orders", "T1", "-", "refunded 100 fen", refund_no="RF9")]
    assert (report.paid_fen, report.refunded_fen, report.fee_fen) == (1000, 399, 4)


def test_scheduled_run_is_the_next_half_past_ten_beijing_time():
    from server.reconcile import next_run
    before = datetime.datetime(2026, 11, 21, 10, 29, tzinfo=CHINA)
    assert next_run(before) == datetime.datetime(2026, 11, 21, 10, 30, tzinfo=CHINA)
    after = datetime.datetime(2026, 11, 21, 2, 31, tzinfo=datetime.timezone.utc)    # 10:31 in Beijing
    assert next_run(after) == datetime.datetime(2026, 11, 22, 10, 30, tzinfo=CHINA)


async def test_one_scheduled_pass_reports_every_channel(stack, tmp_path):
    from server.keys import CHANNELS
    from server.reconcile import reconcile_day
    await pay_some(stack)
    today = datetime.datetime.now(CHINA).date()
    reports = await reconcile_day(stack["app"][STORAGE], stack["app"][CHANNELS], today, tmp_path)
    assert sorted(r.channel for r in reports) == ["alipay", "unionpay", "wechat"] and all(r.ok for r in reports)
    assert sorted(p.name for p in (tmp_path / today.isoformat()).iterdir()) == ["alipay.txt", "unionpay.txt",
                                                                                 "wechat.txt"]


async def test_the_daily_job_reconciles_the_day_before_at_its_hour(stack, tmp_path):
    from server.keys import CHANNELS
    from server.reconcile import run_daily
    await pay_some(stack)
    today = datetime.datetime.now(CHINA).date()
    # The clock reads 10:29:59.9 tomorrow: the job wakes a tenth of a second later and reconciles today.
    tomorrow_morning = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(10, 29, 59, 900_000),
                                                 tzinfo=CHINA)
    job = asyncio.create_task(run_daily(stack["app"][STORAGE], stack["app"][CHANNELS], tmp_path,
                                        datetime.time(10, 30), now=lambda: tomorrow_morning))
    report = tmp_path / today.isoformat() / "wechat.txt"
    try:
        async with asyncio.timeout(10):
            while not report.exists():
                await asyncio.sleep(0.05)
    finally:
        job.cancel()
    assert report.read_text().splitlines()[0].endswith(": OK")


async def test_the_server_starts_the_daily_job_with_its_resolver(stack):
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "reconcile" in names and "resolver" in names


def test_a_bad_run_at_is_refused():
    import pytest
    from server.settings import SettingsError, load_settings
    with pytest.raises(SettingsError, match="reconcile.run_at"):
        load_settings(reconcile={"run_at": "25:00"})
