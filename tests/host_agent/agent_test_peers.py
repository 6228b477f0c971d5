"""Test peers for the agent on real pseudo-terminals: a minimal scripted basic box speaking the line
protocol of docs/basic-box-protocol.md (for the box link's corner cases, besides the real firmware),
and `replug` for a port name that outlives an unplug.

The scripted box answers PING with HELLO, ACKs every command (unless told to ignore some, to test resends), records
what it was told to say and show, and sends SCANs, repeating them every `repeat_s` until ACKed.
"""
import os
import threading
import time

from hw_sim.pos.pole_display import PseudoSerial


class ScriptedBox:
    repeat_s = 1.0

    def __init__(self, port=None, serial="SPB0001", *, ignore=0, send_hello=True):
        """ignore: how many commands to leave unanswered first (the agent must resend them)."""
        self.port = port or PseudoSerial()
        self.serial = serial
        self.ignore = ignore
        self.lines = []             # every line the agent sent, decoded
        self.said = []              # SAY texts, once each (a resent seq is the same command)
        self.leds = []
        self.acks = set()           # SCAN seqs the agent ACKed
        self._done_cmds = set()
        self._seq = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._buf = b""
        self._thread = threading.Thread(target=self._run, daemon=True, name="scripted-box")
        self._thread.start()
        if send_hello:
            self.send("HELLO %d basic 0.1.0 %s" % (self.next_seq(), serial))

    @property
    def path(self):
        return self.port.path

    def next_seq(self):
        self._seq += 1
        return self._seq

    def send(self, line):
        self.port.write(line.encode() + b"\n")

    def _run(self):
        while not self._stop.is_set():
            data = self.port.read(0.05)
            if not data:
                continue
            self._buf += data
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                self._handle(raw.decode("utf-8", "replace").rstrip("\r"))

    def _handle(self, line):
        verb, _, rest = line.partition(" ")
        seq_text, _, argument = rest.partition(" ")
        with self._changed:
            self.lines.append(line)
            if verb == "ACK":
                self.acks.add(int(seq_text))
            elif verb in ("SAY", "LED", "BEEP", "STOP", "PING"):
                if self.ignore > 0:
                    self.ignore -= 1
                else:
                    seq = int(seq_text)
                    if seq not in self._done_cmds:
                        self._done_cmds.add(seq)
                        if verb == "SAY":
                            self.said.append(argument)
                        elif verb == "LED":
                            self.leds.append(argument)
                    if verb == "PING":
                        self.send("HELLO %d basic 0.1.0 %s" % (seq, self.serial))
                    else:
                        self.send("ACK %d" % seq)
            self._changed.notify_all()

    def scan(self, code, wait_ack=True):
        """Send SCAN as the box does: repeated every repeat_s until ACKed, at most 5 times."""
        seq = self.next_seq()
        for _ in range(5):
            self.send("SCAN %d %s" % (seq, code))
            if not wait_ack:
                return seq
            deadline = time.monotonic() + self.repeat_s
            with self._changed:
                while seq not in self.acks and time.monotonic() < deadline:
                    self._changed.wait(0.05)
                if seq in self.acks:
                    return seq
        raise TimeoutError("the agent never ACKed SCAN %d" % seq)

    def wait_said(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in said for said in self.said):
                if time.monotonic() > deadline:
                    raise TimeoutError("the box was never told %r; it was told %r" % (text, self.said))
                self._changed.wait(0.05)

    def unplug(self):
        self._stop.set()
        self._thread.join(2)
        self.port.unplug()

    close = unplug


def replug(link_path, port):
    """Point the stable port name (like /dev/serial/by-id/...) at a new pseudo-terminal."""
    tmp = str(link_path) + ".new"
    os.symlink(port.path, tmp)
    os.replace(tmp, link_path)
