"""Amount source: the serial data the POS sends to its customer pole display.

Two wirings (config `pole_display.mode`):
- ``passthrough``: the POS's display port is connected to the agent (a virtual or real COM port, `port`),
  and the display itself to another of the PC's ports (`display_port`). Every byte is forwarded
  unchanged and at once, before it is parsed, so the customer still sees the price; anything the
  display sends back goes to the POS unchanged.
- ``sniff``: the agent only listens (a Y cable, or a port monitor driver): nothing is written.
Both ports are reopened after an unplug. Reading is `host_agent.pole_display.PoleDisplayReader`, a
model of the display: each total is emitted the moment the display shows it, whatever the POS's
pauses, so the serial link's quiet gaps play no part.
"""
import asyncio
import logging

from host_agent.amount import format_fen
from host_agent.pole_display import PoleDisplayReader
from host_agent.serial_link import PortClosed, SerialLink
from host_agent.sources import AmountReading, AmountSource

log = logging.getLogger(__name__)

MODES = ("passthrough", "sniff")


class PoleDisplaySource(AmountSource):
    name = "pole_display"

    def __init__(self, port, *, mode="sniff", display_port=None, baudrate=2400, protocol="auto",
                 lamps="wintec", lamp_extra_bytes=None, lamp_order="auto", encoding="gbk", labels=None,
                 link_factory=SerialLink):
        if mode not in MODES:
            raise ValueError("pole_display.mode must be passthrough or sniff")
        if mode == "passthrough" and not display_port:
            raise ValueError("passthrough needs pole_display.display_port (where the display is plugged)")
        kwargs = {} if labels is None else {"labels": labels}
        self.parser = PoleDisplayReader(protocol, lamps=lamps, lamp_extra_bytes=lamp_extra_bytes,
                                        lamp_order=lamp_order, encoding=encoding, **kwargs)
        self.port = port
        self.mode = mode
        self.display_port = display_port
        self.baudrate = baudrate
        self._link_factory = link_factory
        self.forwarded = 0          # bytes passed on to the display
        self.dropped = 0            # bytes the display could not take (unplugged)
        self._pos = self._display = None

    @classmethod
    def from_config(cls, section):
        return cls(section.port, mode=section.mode, display_port=section.display_port,
                   baudrate=section.baudrate, protocol=section.protocol, lamps=section.lamp_table(),
                   lamp_extra_bytes=section.lamp_extra_bytes, lamp_order=section.lamp_order,
                   encoding=section.encoding,
                   labels=section.labels)

    def _forward(self, data):
        try:
            self._display.write(data)
            self.forwarded += len(data)
        except PortClosed:
            if not self.dropped:
                log.warning("the pole display on %s is not connected: the customer does not see the price",
                            self.display_port)
            self.dropped += len(data)

    async def run(self, emit):
        loop = asyncio.get_running_loop()

        def on_bytes(data):
            if self._display is not None:
                self._forward(data)         # first, so the customer display is never held up
            for shown in self.parser.feed(data):
                amount_fen = shown.amount_fen
                loop.call_soon_threadsafe(emit, AmountReading(amount_fen, self.name, format_fen(amount_fen)))

        def answer_pos(data):
            # a few displays answer the POS (status, ACK); pass that back unchanged as well
            try:
                self._pos.write(data)
            except PortClosed:
                pass

        if self.mode == "passthrough":
            self._display = self._link_factory(self.display_port, self.baudrate, name="pole display",
                                               on_bytes=answer_pos)
            self._display.start()
        self._pos = self._link_factory(self.port, self.baudrate, name="POS", on_bytes=on_bytes)
        self._pos.start()
        try:
            await asyncio.Event().wait()
        finally:
            for link in (self._pos, self._display):
                if link is not None:
                    await asyncio.to_thread(link.stop)

    def wait_open(self, timeout=5.0):
        """True once the POS port (and the display port, in passthrough) are open; for tests and `run`."""
        links = [link for link in (self._pos, self._display) if link is not None]
        return bool(links) and all(link.wait_open(timeout) for link in links)
