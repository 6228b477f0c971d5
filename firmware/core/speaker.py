# The cloud speaker (云喇叭): a voice, two volume keys, a 4G modem (or Wi-Fi) and a status LED, bound to
# the shop's static code. It takes no payments: it says every payment on the shop's codes
# (core/announce.py, "微信收款 25.80 元"), keeps its heartbeat (updates, commands) and says when it has
# lost the server. It is the enhanced box's app with no scanner, no journal and two keys:
#
#   VOL+ / VOL-   one step louder / quieter (0-10), said at the new volume ("音量 6")
#
# The volume lives in RAM from the config's `volume` (default 6): a power cut brings the installer's back.
from core import app as base
from core import texts


class SpeakerApp(base.App):
    default_volume = 6
    first_heartbeat_s = 0       # nothing else to do at start-up: report at once

    def __init__(self, network_kind=None, modem=None, volume=None, **parts):
        super().__init__(**parts)
        self.network_kind = network_kind        # "4g", "wifi" or None (down)
        self.modem = modem
        self.voice.volume = self.default_volume if volume is None else max(0, min(10, volume))

    def on_key(self, key):
        self.emit("key", key=key)
        if key not in ("VOL+", "VOL-"):
            return
        level = max(0, min(10, self.voice.volume + (1 if key == "VOL+" else -1)))
        self.voice.volume = level
        self.emit("volume", level=level)
        self.say("%s %d" % (texts.SAY_VOLUME, level))

    async def start_up(self):
        await self.load_info()          # no journal: nothing to resume

    async def on_command(self, kind, args):
        if kind == "sync_orders":
            return                      # no orders kept here
        await super().on_command(kind, args)

    def heartbeat_fields(self):
        return {"network": self.network_kind} if self.network_kind else {}


def make_app(hw, config, transport=None, on_event=None, network_kind=None, modem=None, reset=None,
             place=None):
    """The speaker's app from its board's Hardware (voice, the volume keys as a 1x2 matrix, LED, modem)."""
    parts = base.app_parts(hw, config, transport, on_event, journal=False)
    app = SpeakerApp(network_kind=network_kind, modem=modem, volume=config.get("volume"), **parts)
    return base.add_heartbeat(app, config, reset, place)
