"""python -m host_agent ports | calibrate | run

    ports                       list the PC's serial ports (the box, the POS's display port)
    calibrate [--region L,T,W,H] [--image PNG]
                                find the POS total on the screen; prints the [screen] region line
    run                         take payments: amount from the POS, code from the box

Every command takes --config (default host_agent.toml, or $SCANPAY_AGENT_CONFIG). Errors are printed
as `host_agent: message` with exit status 1; with no console (pythonw) they go to the log file and a
message box instead (host_agent.startup).
"""
import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from host_agent import startup
from host_agent.config import ConfigError, load_config

PROG = "host_agent"
DEFAULT_CONFIG = "host_agent.toml"


class CommandError(Exception):
    pass


# ---------------------------------------------------------------------------------------------- commands
def do_ports(args, out):
    from serial.tools import list_ports
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        print("no serial ports found (plug the scan box in; on Linux, check you may open /dev/ttyACM*)",
              file=out)
        return
    for port in ports:
        usb = " USB %04X:%04X" % (port.vid, port.pid) if port.vid is not None else ""
        serial_no = " serial %s" % port.serial_number if port.serial_number else ""
        print("%-16s %s%s%s" % (port.device, port.description or "", usb, serial_no), file=out)


def do_calibrate(args, out):
    from host_agent import calibrate
    from host_agent.ocr import OcrUnavailable
    if args.image:
        from PIL import Image
        try:
            image = Image.open(args.image).convert("RGB")
        except OSError as exc:
            raise CommandError("cannot open the screenshot %s: %s" % (args.image, exc)) from None
        monitor = calibrate.SCREENSHOT     # a saved picture: the region is in its pixels
    else:
        from host_agent.sources.screen import MssGrabber, ScreenUnavailable
        try:
            image, monitor = MssGrabber(args.monitor).full_screen()
        except ScreenUnavailable as exc:
            raise CommandError("%s; on a PC without a screen, pass --image with a screenshot" % exc) from None
    if args.region:
        try:
            region = calibrate.parse_region(args.region)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    else:
        from host_agent.sources.manual import window_possible
        if not window_possible():
            raise CommandError("no display for the calibration window: pass --region left,top,width,height")
        chosen = calibrate.choose_region(image)
        if chosen is None:
            raise CommandError("no region chosen")
        region = calibrate.desktop_region(chosen, monitor)
    try:
        reading = calibrate.check_region(image, calibrate.image_region(region, monitor))
    except OcrUnavailable as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    from host_agent.amount import format_fen
    print("reads: %r (confidence %.2f)" % (reading.text, reading.score), file=out)
    if reading.amount_fen is None:
        print("amount: none found; make the box cover the total and nothing else, with the POS showing one",
              file=out)
    else:
        print("amount: %s yuan" % format_fen(reading.amount_fen), file=out)
    print("put this under [screen] in the config:\n%s" % calibrate.config_line(region), file=out)


def do_run(args, out):
    path = args.config or os.environ.get("SCANPAY_AGENT_CONFIG") or DEFAULT_CONFIG
    console = not startup.console_missing()
    # until the config says where: the console, or with none the file beside the config
    fallback = None if console else startup.fallback_log(path)
    _logging(console, file=fallback)
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    log_file = config.log.file or fallback
    _logging(console, config.log.level, log_file, max_bytes=config.log.max_bytes, backups=config.log.backups)
    lock = startup.SingleInstance(Path(log_file or path).resolve().parent)
    if not lock.acquire():
        holder = lock.holder()
        raise CommandError("%s / %s%s" % (*startup.ALREADY_RUNNING, " (process %d)" % holder if holder else ""))
    try:
        _run(config)
    finally:
        lock.release()


def _logging(console, level="INFO", file=None, **rotation):
    try:
        startup.setup_logging(level, file, console=console, **rotation)
    except startup.StartupError as exc:
        raise CommandError(str(exc)) from None


def _run(config):
    from host_agent.agent import Agent
    from host_agent.ocr_recogniser import OcrUnavailable, import_rapidocr
    log = logging.getLogger("host_agent")
    log.info("scanpay host agent: %s", config.describe())
    try:
        if config.reads_screen:
            import_rapidocr()       # a missing or broken OCR install is said now, not at the first read
        agent = Agent.from_config(config)
    except (OcrUnavailable, ValueError) as exc:
        raise CommandError(str(exc)) from None
    try:
        asyncio.run(agent.run())
    except KeyboardInterrupt:
        log.info("stopped")
    except OcrUnavailable as exc:   # the model would not load at the screen source's warm-up
        raise CommandError(str(exc)) from None
    except Exception as exc:
        log.exception("the agent stopped")
        raise CommandError("收款助手意外停止，详情见日志 / the agent stopped: %s (the log has the details)"
                           % exc) from None


COMMANDS = {"ports": do_ports, "calibrate": do_calibrate, "run": do_run}


class ArgumentsError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """A mistake in the arguments is one line, Chinese first (raised to main, which reports it where a cashier
    sees it, as every other error), not argparse's usage block."""

    def error(self, message):
        raise ArgumentsError("参数有误 / bad arguments: %s (%s --help)" % (message, self.prog))


def build_parser():
    parser = Parser(prog=PROG, description="scanpay host agent for the cashier PC")
    config_help = "the agent's TOML config (default %s)" % DEFAULT_CONFIG
    parser.add_argument("--config", help=config_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{ports,calibrate,run}")
    # every command takes --config after its name too (`host_agent run --config C`), as the docstring says
    takes_config = [commands.add_parser("ports", help="list serial ports")]
    calibrate = commands.add_parser("calibrate", help="find the POS total on the screen")
    calibrate.add_argument("--region", help="left,top,width,height instead of choosing in a window")
    calibrate.add_argument("--image", help="a saved screenshot instead of grabbing the screen")
    calibrate.add_argument("--monitor", type=int, default=0, help="which screen (0: all of them)")
    takes_config += [calibrate, commands.add_parser("run", help="take payments")]
    for command in takes_config:
        command.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    return parser


def main(argv=None, out=None, show=startup.message_box):
    """Run a command; its error goes to the console, or with none to the log and `show` (a message
    box: host_agent.startup), and the status is 1."""
    try:
        args = build_parser().parse_args(argv)
    except ArgumentsError as exc:      # before any log is set up: the console, or with none a message box
        text = "%s: %s" % (PROG, exc)
        if sys.stderr is not None:
            print(text, file=sys.stderr)
        if startup.console_missing():
            show(startup.TITLE, text)
        return 2
    out = out or sys.stdout
    try:
        COMMANDS[args.command](args, out)
    except CommandError as exc:
        startup.report_failure("%s: %s" % (PROG, exc), show)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
