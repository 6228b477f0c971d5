# The heartbeat of every networked profile (enhanced box, QR stand, handheld gun) and what operations
# send back with it: commands, firmware updates (core/ota.py). One copy for all profiles; the app hands
# in only what it alone knows: its extra fields, its own commands, and whether it is idle; the board
# hands in its place reader.
#
# One beat:
#   1. POST heartbeat {firmware, uptime_s, place?, ...}. The first answer after a boot is the running
#      version's proof that it reaches the server: ota.confirm() keeps a version just installed
#      ("confirmed" is reported) and a rollback boot_select.py made at this boot is reported ("rolled_back").
#   2. Each command is carried out once (ids remembered; a resent one is only acked again):
#        update_firmware  in its own task: wait until the app is idle, install (every step reported
#                         with `ota_report`), ack, wait until idle again, reset into the new version
#        reboot           ack, wait until idle, reset (the beat waits with it)
#        anything else    the app's on_command(kind, args)
#   3. Ack what was carried out.
# "Idle" is the app's word: a payment in progress is never cut short by an update or a reboot.
# An update cut short by a network failure is not acked: the server offers it again (the install
# starts over); one refused (bad signature, tampered file) is reported "failed" and acked.
#
# Place (the board's reader, core/place.py): read and sent with the first beat, again when the link
# changed (another access point or network, a new data call) and every `place_every` beats, but only
# while the app is idle: a Wi-Fi scan holds the radio and the event loop for about 2 s. A place that did
# not reach the server (network down, server fault) is read again at the next beat.
# An answer's `announce_seq` above the announcer's cursor (core/announce.py) makes it ask `events` at once.
# A 403 refusal of the device itself (device_moved, device_cloned, ...) goes to the app's
# on_standing(code), an answered beat to on_standing(None): the shop hears of it before a customer waits.
import asyncio

from core import api as api_mod
from core import ota
from core.compat import asleep_ms, ticks_diff, ticks_ms
from core.http import NetworkError
from core.version import VERSION

UPDATE = "update_firmware"
REBOOT = "reboot"


class Heartbeat:
    interval_s = 60         # until the server's answer says otherwise (heartbeat_s)
    idle_poll_ms = 500      # how often a waiting update looks whether the app is idle
    remembered = 8          # how many command ids are kept as carried out
    place_every = 60        # beats between two reads of the place on an unchanged link (1 h at 60 s)

    def __init__(self, api, app, reset=None, profile=None, root="/", version=VERSION, place=None):
        """app: has idle(), emit(kind, **fields), heartbeat_fields(), on_standing(code) and
        async on_command(kind, args). reset: the board's machine.reset (None: the new version runs from
        the next power-on). place: the board's place reader (core/place.py), None: no place is sent."""
        self.api = api
        self.app = app
        self.reset = reset
        self.profile = profile
        self.root = root
        self.version = version
        self.contacted = False          # the server answered a heartbeat since this boot
        self.update_task = None
        self._done = []                 # ids of the commands carried out lately
        self._busy_ids = []             # ids being carried out (an update waiting or installing)
        self._started_ms = ticks_ms()
        self.place = place
        self._place_link = None         # the link the last place the server got was read on
        self._place_beats = 0           # beats since then

    # ------------------------------------------------------------------------ the loop
    async def run(self, first_s=0):
        """Beat every interval_s until cancelled, the first one first_s after the start."""
        try:
            await asleep_ms(first_s * 1000)
            while True:
                try:
                    await self.beat()
                except (NetworkError, api_mod.ApiError) as e:
                    self.app.emit("error", where="heartbeat", message=str(e))
                    if isinstance(e, NetworkError):
                        self._link(False)
                await asleep_ms(self.interval_s * 1000)
        finally:
            if self.update_task is not None:    # the app is closing: an install stops with it
                self.update_task.cancel()

    async def beat(self):
        """One heartbeat and what its answer asks for; returns the answer."""
        fields = {"firmware": self.version, "uptime_s": ticks_diff(ticks_ms(), self._started_ms) // 1000}
        fields.update(self.app.heartbeat_fields())
        link, place = await self._read_place()
        if place is not None:
            fields["place"] = place
        try:
            answer = await self.api.heartbeat(**fields)
        except api_mod.ApiError as e:
            if e.status < 500:
                self._placed(link)          # the server read it (a refused device is not scanned again)
            if e.status == 403 and e.code and e.code.startswith("device_"):
                self.app.on_standing(e.code)
            raise
        self._placed(link)
        self.app.on_standing(None)
        self._link(True)
        announcer = getattr(self.app, "announcer", None)
        if announcer is not None:
            announcer.behind(answer.get("announce_seq"))    # a payment not heard yet: ask at once
        if not self.contacted:
            self.contacted = True
            await self.after_first_contact()
        acked = []
        for command in answer.get("commands") or ():
            command_id = command.get("id")
            if command_id in self._busy_ids:
                continue                # still at it: acked when done
            if command_id in self._done:
                acked.append(command_id)    # carried out already, its ack was lost
                continue
            self._remember(command_id)
            kind = command.get("kind")
            args = command.get("args") or {}
            if kind == UPDATE:
                self._start_update(command_id, args)
                continue
            self.app.emit("command", command=kind, id=command_id)
            if kind == REBOOT:
                await self._ack(command_id)
                await self._reset()     # after a payment under way has finished
                continue
            await self.app.on_command(kind, args)
            acked.append(command_id)
        if acked:
            await self.api.heartbeat(acked=acked)
        interval = answer.get("heartbeat_s")
        if isinstance(interval, int) and interval > 0:
            self.interval_s = interval
        return answer

    def _link(self, up):
        on_link = getattr(self.app, "on_link", None)    # the app says a link that went down (core/app.py)
        if on_link is not None:
            on_link(up)

    def _placed(self, link):
        if link is not None:
            self._place_link, self._place_beats = link, 0

    async def _read_place(self):
        """(link, place) when this beat should carry the place, else (None, None)."""
        reader = self.place
        if reader is None:
            return None, None
        link = reader.link()
        if link is None:
            return None, None               # no link on that radio now
        self._place_beats += 1
        if link == self._place_link and self._place_beats < self.place_every:
            return None, None
        if not self.app.idle():
            return None, None               # due: the next idle beat reads it
        try:
            place = await reader.read()
        except OSError as e:
            self.app.emit("error", where="place", message=str(e))
            return None, None
        if place:
            self.app.emit("place", **place)
        return link, place

    def _remember(self, command_id):
        self._done.append(command_id)
        del self._done[:-self.remembered]

    # ------------------------------------------------------------------------ after a boot
    async def after_first_contact(self):
        """The running version reached the server: keep it, and tell what happened at boot."""
        version = ota.confirm(self.root)
        if version is not None:
            self.app.emit("ota", step="confirmed", version=version)
            await self.report(version, "confirmed", "reached the server")
        version = ota.rolled_back(self.root, clear=False)
        if version is not None:
            self.app.emit("ota", step="rolled_back", version=version)
            if await self.report(version, "rolled_back", "did not reach the server within %d boots; running %s"
                                 % (ota.max_boots(), self.version)):
                ota.rolled_back(self.root)      # reported: forget it (else: again at the next boot)

    async def report(self, version, step, detail=None):
        """One `ota_report`; True if the server got it. A lost report never stops an update."""
        fields = {"version": version, "step": step}
        if detail:
            fields["detail"] = str(detail)[:200]
        try:
            await self.api.call("ota_report", fields)
            return True
        except (NetworkError, api_mod.ApiError) as e:
            self.app.emit("error", where="ota_report", message=str(e))
            return False

    # ------------------------------------------------------------------------ updates, reboots
    def _start_update(self, command_id, offer):
        if offer.get("version") == self.version:
            # running it already (the ack before the reset was lost): nothing to install
            asyncio.create_task(self._ack(command_id))
            return
        if self.update_task is not None:
            self._done.remove(command_id)       # one at a time: this one comes again
            return
        self._busy_ids.append(command_id)
        self.update_task = asyncio.create_task(self._update(command_id, offer))

    async def wait_idle(self):
        told = False
        while not self.app.idle():
            if not told:
                told = True
                self.app.emit("ota", step="waiting", reason="busy")
            await asleep_ms(self.idle_poll_ms)

    async def _update(self, command_id, offer):
        version = offer.get("version") or "?"
        try:
            await self.wait_idle()

            async def step(name, detail):
                self.app.emit("ota", step=name, version=version, detail=detail)
                await self.report(version, name, detail)

            updater = ota.Updater(self.api.transport, report=step, root=self.root, profile=self.profile)
            try:
                await updater.install(offer)
            except ota.OtaError:
                await self._ack(command_id)     # refused and reported: not to be tried again
                return
            except OSError as e:
                # the flash refused a write (full, worn): the active slot is untouched
                await step("failed", "flash: %s" % e)
                await self._ack(command_id)
                return
            except NetworkError as e:
                # lost the server half-way: the offer stays, the next heartbeat brings it again
                self.app.emit("error", where="update", message=str(e))
                if command_id in self._done:
                    self._done.remove(command_id)
                return
            await self._ack(command_id)
            await self._reset()
        finally:
            if command_id in self._busy_ids:
                self._busy_ids.remove(command_id)
            self.update_task = None

    async def _ack(self, command_id):
        try:
            await self.api.heartbeat(acked=[command_id])
        except (NetworkError, api_mod.ApiError) as e:
            self.app.emit("error", where="heartbeat", message=str(e))

    async def _reset(self):
        await self.wait_idle()
        self.app.emit("reboot")
        if self.reset is not None:
            self.reset()
