"""python -m hw_sim.virtual_board: a virtual MicroPython board, and a payment taken on a flashed one.

    python -m hw_sim.virtual_board --fs DIR                 run a board until Ctrl-C, printing its port
    python -m hw_sim.virtual_board serve [--dir var/try] [--port 8080] [--port-file F]
                                the payment server with the WeChat, Alipay and UnionPay sandboxes, until Ctrl-C
                                (--port 0: any free port, written to F when ready)
    python -m hw_sim.virtual_board flash --fs DIR --bundle B.tar.gz [--config device.json]
                                start a board on DIR, run `python -m tools flash` on its port, stop it
    python -m hw_sim.virtual_board pay --fs DIR --amount 12.50 --code CODE
                                boot what was flashed on DIR, type the amount, show the code, print the result

docs/tools.md ("Take a payment on a flashed virtual board") walks through them. Errors are one line,
`python -m hw_sim.virtual_board: 中文 / English`, with exit status 1 (2 for bad arguments).
"""
import argparse
import asyncio
import json
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile

from hw_sim.virtual_board import REPO, VirtualBoard, VirtualBoardError, run_command
from tools.one_line_args import OneLineParser, port_number

PROG = "python -m hw_sim.virtual_board"
JIG = pathlib.Path(__file__).resolve().parent / "jig"
TRY_TOKEN = "try-out-ops-token-0123456789"     # the operator token of `serve` (a local try-out server only)


class CommandError(Exception):
    pass


def _amount(text):
    if not re.fullmatch(r"\d{1,5}(\.\d{1,2})?", text) or not float(text):
        raise argparse.ArgumentTypeError("%r is not an amount in yuan, e.g. 12.50" % text)
    return text


def _code(text):
    if not (text.isascii() and text.isdigit() and 16 <= len(text) <= 24):
        raise argparse.ArgumentTypeError("%r is not a payment code (16 to 24 digits; docs/sandbox.md)" % text)
    return text


# ---------------------------------------------------------------------------------------------- commands
def do_board(args):
    # blocked in every thread, taken by sigwait below: Ctrl-C stops the board cleanly (files synced)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    board = _start_board(args.fs, heap=args.heap, run_main=args.run_main)
    print(board.port, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        board.stop()


def do_serve(args):
    asyncio.run(_serve(pathlib.Path(args.dir), args.port, args.port_file))


async def _serve(workdir, port, port_file=None):
    from server.listening import write_port_file
    from hw_sim.boards.stack import CHANNELS, ServerStack
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("scanpay.db", "scanpay.db-wal", "scanpay.db-shm"):    # a fresh database at every start
        (workdir / name).unlink(missing_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # the channels' real timings (a payer who never types the password is reversed after 45 s), not a test's
    timings = {"query_interval_s": None, "deadline_s": None, "cancel_retry_s": None, "timeout_s": None}
    try:
        stack = ServerStack(workdir, devices=(), channels=CHANNELS, ops_token=TRY_TOKEN, port=port, **timings)
        await stack.__aenter__()
    except OSError as e:
        raise CommandError("端口 %d 无法监听 / cannot listen on 127.0.0.1:%d: %s" % (port, port, e.strerror or e))
    try:
        print("server %s (database %s); merchant %s; operator token %s" % (
            stack.url, workdir / "scanpay.db", stack.merchant_id, TRY_TOKEN), flush=True)
        for channel, sandbox in stack.sandboxes.items():
            print("%s sandbox %s" % (channel, sandbox.base_url), flush=True)
        if port_file:
            try:
                write_port_file(port_file, stack.port)
            except OSError as e:
                raise CommandError("无法写入端口文件 %s / cannot write the port file %s: %s"
                                   % (port_file, port_file, e.strerror or e))
        print("ready: Ctrl-C stops", flush=True)
        await stop.wait()
    finally:
        await stack.__aexit__(None, None, None)


def do_flash(args):
    command = [sys.executable, "-m", "tools", "flash", "--bundle", args.bundle]
    if args.config:
        command += ["--config", args.config]
    board = _start_board(args.fs)
    try:
        # the project's own flash tool, on the board's pseudo-terminal as on a USB port
        code = subprocess.run(command + ["--port", board.port]).returncode
    finally:
        board.stop()
    if code:
        raise CommandError("烧录失败 / flashing failed (tools said why above)")


def do_pay(args):
    fs = pathlib.Path(args.fs)
    if not (fs / "main.py").is_file() or not (fs / "config.json").is_file():
        raise CommandError("板子上没有烧录好的固件 / %s holds no flashed firmware with a config: run `flash` first"
                           % fs)
    server_url = json.loads((fs / "config.json").read_text()).get("server_url")
    with tempfile.TemporaryDirectory() as jig:
        for name in ("mp_standins.py", "mp_jig_board.py"):
            shutil.copy(JIG / name, jig)
        keys = list(args.amount) + ["OK"]       # the cashier types the amount; the customer shows the code
        (pathlib.Path(jig) / "input.json").write_text(json.dumps(
            {"until": "paid", "pay": {"keys": keys, "code": args.code}, "wait_s": args.wait}))
        try:
            done = subprocess.run(run_command(fs, JIG / "mp_device.py", jig), cwd=REPO, capture_output=True,
                                  text=True, timeout=args.wait + 120)
        except FileNotFoundError as e:
            raise CommandError("找不到 node / node is missing (make setup installs it): %s" % e)
        except subprocess.TimeoutExpired:
            raise CommandError("板子没有按时完成 / the board did not finish within %d s" % (args.wait + 120))
    results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not results:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise CommandError("板子没有启动 / the flashed board did not run: %s" % last)
    result = results[-1]
    from hw_sim.voice import parse_syn6288_frames, syn6288_text
    frames, _rest = parse_syn6288_frames(bytes.fromhex(result["voice"]))
    for text in filter(None, map(syn6288_text, frames)):
        print("box says: %s" % text)
    orders = result.get("journal") or []
    if not orders:
        raise CommandError("板子连不上服务器 / the board took no payment: is the server at %s running "
                           "(`serve`)?" % server_url)
    order = orders[0]
    yuan = "%d.%02d" % divmod(order.get("amount_fen", 0), 100)
    reason = " %s" % order["reason"] if order.get("reason") else ""
    print("order %s: %s%s, %s yuan, %s" % (order.get("order_no"), order.get("status"), reason, yuan,
                                          order.get("channel")))
    if order.get("status") != "SUCCESS":
        raise CommandError("付款未成功 / the payment did not succeed: %s%s" % (order.get("status"), reason))


def _start_board(fs, **options):
    try:
        pathlib.Path(fs).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CommandError("无法使用目录 %s / cannot use %s for the board's flash: %s" % (fs, fs, e.strerror or e))
    try:
        return VirtualBoard(fs, **options).start()
    except VirtualBoardError as e:
        raise CommandError("虚拟板子没有启动 / the virtual board did not start: %s" % e)


COMMANDS = {"serve": do_serve, "flash": do_flash, "pay": do_pay}


def parser():
    p = OneLineParser(prog=PROG, description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog=__doc__.split("\n\n")[1])
    p.add_argument("--fs", default="var/virtual_board", help="host directory holding the board's flash")
    p.add_argument("--heap", type=int, default=2 * 1024 * 1024)
    p.add_argument("--run-main", action="store_true", help="run main.py after each reset")
    sub = p.add_subparsers(dest="command", metavar="command")
    s = sub.add_parser("serve", help="the payment server with the three channel sandboxes, until Ctrl-C")
    s.add_argument("--dir", default="var/try", help="its database and files (a fresh database each start)")
    s.add_argument("--port", type=port_number, default=8080, help="0: any free one")
    s.add_argument("--port-file", metavar="PATH", help="once ready, write the port to PATH (for --port 0)")
    f = sub.add_parser("flash", help="flash a build onto a virtual board with `python -m tools flash`")
    f.add_argument("--fs", required=True, help="the board's flash directory")
    f.add_argument("--bundle", required=True, help="the .tar.gz `python -m tools build` wrote")
    f.add_argument("--config", help="the device config `python -m tools provision` wrote")
    y = sub.add_parser("pay", help="boot a flashed board and take one payment")
    y.add_argument("--fs", required=True, help="the flashed board's directory")
    y.add_argument("--amount", required=True, type=_amount, help="yuan, as typed on the keypad: 12.50")
    y.add_argument("--code", required=True, type=_code, help="the customer's payment code (docs/sandbox.md)")
    y.add_argument("--wait", type=int, default=60, help="seconds the payment may take")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        COMMANDS.get(args.command, do_board)(args)
    except CommandError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
