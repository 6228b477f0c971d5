"""python -m tools <command>: keygen, build, flash, provision, release. See docs/tools.md.

Each command is a handler do_<name>(state, args) in COMMANDS; main() is the one place that turns an
error into `tools: message` and exit status 1, and its finally closes the board connection."""
import argparse
import json
import os
import pathlib
import sys

from tqdm import tqdm

from tools import build as build_mod
from tools import flash as flash_mod
from tools import release as release_mod
from tools import signing
from tools.board import BoardError, SerialBoard
from tools.one_line_args import OneLineParser
from tools.server_api import OpsClient, OpsError

PROG = "tools"
DEFAULT_KEY = "keys/release.pem"
ERRORS = (build_mod.BuildError, flash_mod.FlashError, BoardError, OpsError, signing.SigningError,
          release_mod.RolloutStopped)


class ToolError(Exception):
    pass


class State:
    def __init__(self):
        self.board = None

    def connect(self, port, timeout_s=5):
        self.board = SerialBoard.connect(port, timeout_s=timeout_s)
        return self.board

    def close(self):
        if self.board is not None:
            self.board.close()
            self.board = None


def _bar(total, desc, unit="B"):
    # on stderr, and only on a terminal (tqdm's disable=None), so tests and logs stay clean
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", disable=None, file=sys.stderr,
                leave=False)


def do_keygen(state, args):
    public = signing.generate(args.key, args.public or str(pathlib.Path(args.key).with_suffix(".pub")))
    print("release key %s (public %s)" % (args.key, public))


def do_build(state, args):
    sources = build_mod.profile_files(args.profile)
    with _bar(len(sources), "compile", unit="file") as bar:
        bundle = build_mod.build(args.profile, args.key, args.out, version=args.version,
                                 progress=lambda rel: bar.update(1))
    manifest = json.loads((bundle / "manifest.json").read_text())
    print("built %s: %s %s, %d files, signed (%s.tar.gz)" % (
        bundle, manifest["profile"], manifest["version"], len(manifest["files"]), bundle))


def do_flash(state, args):
    manifest, body, sig_hex, pub_hex, files, boot = build_mod.load_bundle(args.bundle)
    config = None
    if args.config:
        try:
            config = json.loads(pathlib.Path(args.config).read_text())
        except (OSError, ValueError) as e:
            raise ToolError("config %s: %s" % (args.config, e))
    writes = flash_mod.plan(manifest, body, sig_hex, pub_hex, files, boot, config)
    if args.esptool_image:
        if not os.path.isfile(args.esptool_image):
            raise ToolError("no MicroPython image at %s" % args.esptool_image)
        if not os.path.exists(args.port):
            raise ToolError("port %s does not exist (is the board plugged in?)" % args.port)
        flash_mod.write_micropython(args.port, args.esptool_image, offset=args.esptool_offset)
    board = state.connect(args.port, timeout_s=args.timeout)
    total = sum(len(data) for _, data in writes)
    with _bar(total, "flash") as bar:
        done = {}

        def progress(path, n, size):
            bar.update(n - done.get(path, 0))
            done[path] = n
        count = flash_mod.flash_bundle(board, writes, progress=progress)
    print("flashed %s %s to %s: %d files, SHA-256 verified on the board" % (
        manifest["profile"], manifest["version"], args.port, count))


def do_provision(state, args):
    client = OpsClient(args.server, args.token or os.environ.get("SCANPAY_OPS_TOKEN"))
    answer = client.register_device(args.device_id, args.profile, args.merchant, args.store,
                                    issue="key" if args.issue_key else "activation_code")
    config = {"profile": args.profile, "device_id": args.device_id,
              "server_url": answer.get("server_url") or args.server}
    if args.issue_key:
        if not answer.get("device_key"):
            raise ToolError("the server issued no device_key")
        config["device_key"] = answer["device_key"]
    else:
        if not answer.get("activation_code"):
            raise ToolError("the server issued no activation_code")
        config["activation_code"] = answer["activation_code"]
    if args.wifi_ssid:
        config["wifi"] = {"ssid": args.wifi_ssid, "password": args.wifi_password or ""}
    out = pathlib.Path(args.out or "out/devices/%s.json" % args.device_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)     # holds the device's secret
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(config, indent=1, sort_keys=True) + "\n")
    print("registered %s (%s); config written to %s — flash it with --config %s"
          % (args.device_id, args.profile, out, out))


def do_release(state, args):
    try:
        stages = release_mod.parse_stages(args.stages)
    except ValueError as e:
        raise ToolError("--stages: %s" % e)
    if not 0 <= args.threshold < 1:
        raise ToolError("--threshold is a fraction in [0, 1), e.g. 0.05")
    manifest, *_ = build_mod.load_bundle(args.bundle)          # refuses an unsigned or altered bundle
    tarball = pathlib.Path(args.bundle)
    if tarball.is_dir():
        tarball = tarball.with_name(tarball.name + ".tar.gz")
    client = OpsClient(args.server, args.token or os.environ.get("SCANPAY_OPS_TOKEN"))
    published = client.upload_build(manifest["profile"], manifest["version"], tarball.read_bytes())
    print("published %s %s: %s" % (manifest["profile"], manifest["version"], published.get("manifest_url", "")))
    rollout = client.start_rollout(manifest["profile"], manifest["version"], args.threshold)
    status = release_mod.run_rollout(client, rollout["id"], stages, args.threshold, poll_s=args.poll,
                                     stage_timeout_s=args.stage_timeout, min_settled=args.min_settled)
    print("rollout %s %s: %d devices updated, %d failed, %d rolled back" % (
        rollout["id"], status.get("state", "complete"), status.get("updated", 0), status.get("failed", 0),
        status.get("rolled_back", 0)))


COMMANDS = {
    "keygen": (do_keygen, "create the Ed25519 release key pair"),
    "build": (do_build, "compile a profile to .mpy, write and sign its manifest"),
    "flash": (do_flash, "put MicroPython (optional), a bundle and a device config on a board"),
    "provision": (do_provision, "register a device with the server, write its config"),
    "release": (do_release, "publish a bundle and roll it out in stages"),
}


def parser():
    p = OneLineParser(prog="python -m tools", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    parsers = {name: sub.add_parser(name, help=help_) for name, (_, help_) in COMMANDS.items()}
    for name in ("keygen", "build"):
        parsers[name].add_argument("--key", default=DEFAULT_KEY, help="private key (PEM), default %(default)s")
    parsers["keygen"].add_argument("--public", help="public key file (hex), default: the key's name + .pub")
    b = parsers["build"]
    b.add_argument("--profile", required=True, choices=build_mod.PROFILES)
    b.add_argument("--version", help="default: firmware/core/version.py")
    b.add_argument("--out", default="out")
    f = parsers["flash"]
    f.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0 or a virtual board's /dev/pts/N")
    f.add_argument("--bundle", required=True, help="bundle directory or .tar.gz from `build`")
    f.add_argument("--config", help="device config JSON (from `provision`), written as /config.json")
    f.add_argument("--esptool-image", help="MicroPython firmware .bin to write first")
    f.add_argument("--esptool-offset", default="0x1000", help="0x1000 for ESP32/S2, 0 for S3/C3/C6")
    f.add_argument("--timeout", type=float, default=5, help="seconds to wait for the REPL")
    for name in ("provision", "release"):
        parsers[name].add_argument("--server", required=True, help="server base URL")
        parsers[name].add_argument("--token", help="operator token (default: $SCANPAY_OPS_TOKEN)")
    v = parsers["provision"]
    v.add_argument("--device-id", required=True)
    v.add_argument("--profile", required=True, choices=build_mod.PROFILES)
    v.add_argument("--merchant")
    v.add_argument("--store")
    v.add_argument("--issue-key", action="store_true",
                   help="write the device key itself instead of a one-time activation code")
    v.add_argument("--wifi-ssid")
    v.add_argument("--wifi-password")
    v.add_argument("--out", help="config file, default out/devices/<device_id>.json")
    r = parsers["release"]
    r.add_argument("--bundle", required=True)
    r.add_argument("--stages", default="10%,50%,100%", help="e.g. group:pilot,10%%,100%%")
    r.add_argument("--threshold", type=float, default=0.05, help="stop above this failure rate")
    r.add_argument("--min-settled", type=int, default=5, help="devices settled before the rate counts")
    r.add_argument("--poll", type=float, default=30)
    r.add_argument("--stage-timeout", type=float, default=6 * 3600)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    handler = COMMANDS[args.command][0]
    state = State()
    try:
        handler(state, args)
        return 0
    except (ToolError, *ERRORS) as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("%s: interrupted" % PROG, file=sys.stderr)
        return 1
    finally:
        state.close()
