# Where the device is, for the server's anti-switching check (docs/device-api.md, "Identity and place";
# docs/firmware.md, "Place"): on Wi-Fi the access point it is connected to and up to 16 more it can
# see, on 4G the serving cell. The board hands the app a reader built on its own radio (hardware passed
# in); core/heartbeat.py decides when to read it and sends what it read as the heartbeat's `place`.
#
#   WifiPlace(wlan)     network.WLAN(STA_IF): one scan per read (about 2 s on an ESP32, the event loop
#                       stands still meanwhile: the heartbeat reads only while the app is idle)
#   CellPlace(modem)    drivers/modem.py's Modem: the serving cell it read in command mode, before dialling
#
# Every reader has link(), cheap (no radio time): what names the link now, None while there is none; when
# it changes the place may have changed. And read(): the place as the heartbeat sends it, or None.
from core.compat import const

MAX_SEEN = const(16)        # the server takes at most 16 in `seen`


def bssid_text(raw):
    """'aa:bb:cc:dd:ee:ff' from the 6 bytes wlan.scan() gives."""
    return ":".join("%02x" % b for b in raw)


def wifi_place(scan, ssid, channel, rssi=None):
    """The place from wlan.scan()'s tuples (ssid, bssid, channel, RSSI, security, hidden) while connected
    to `ssid` on `channel`: {"bssid": the connected access point (when found), "seen": up to 16 others,
    strongest first}; None when the scan found nothing.

    MicroPython on the ESP32 cannot tell the connected access point's BSSID (WLAN.config() has no 'bssid',
    WLAN.status() only 'rssi'): it is the scanned one with our SSID on our channel whose RSSI is closest
    to the link's (the strongest such one when the link's RSSI is unknown)."""
    if isinstance(ssid, str):
        ssid = ssid.encode()
    ours = None
    best = None
    for ap in scan:
        if bytes(ap[0]) != ssid or ap[2] != channel:
            continue
        distance = abs(ap[3] - rssi) if rssi is not None else -ap[3]
        if best is None or distance < best:
            best = distance
            ours = bytes(ap[1])
    seen = []
    for ap in sorted(scan, key=lambda ap: -ap[3]):
        raw = bytes(ap[1])
        if raw == ours or len(raw) != 6:
            continue
        text = bssid_text(raw)
        if text not in seen:
            seen.append(text)
        if len(seen) == MAX_SEEN:
            break
    place = {}
    if ours is not None:
        place["bssid"] = bssid_text(ours)
    if seen:
        place["seen"] = seen
    return place or None


class WifiPlace:
    """The place of a board on Wi-Fi, from its station interface."""

    def __init__(self, wlan):
        self.wlan = wlan

    def link(self):
        wlan = self.wlan
        if not wlan.isconnected():
            return None
        # roaming to another access point or joining another network changes one of them
        return "%s/%s" % (wlan.config("ssid"), wlan.config("channel"))

    async def read(self):
        """One scan (OSError when the radio refuses it: busy, or the link just dropped)."""
        wlan = self.wlan
        if not wlan.isconnected():
            return None
        ssid, channel = wlan.config("ssid"), wlan.config("channel")
        try:
            rssi = wlan.status("rssi")
        except (OSError, ValueError):       # a port without it: the strongest of ours is taken
            rssi = None
        return wifi_place(wlan.scan(), ssid, channel, rssi)


class CellPlace:
    """The place of a board on 4G: the serving cell the modem named before the data call (afterwards PPP
    owns the UART: no AT commands until the call is dialled again)."""

    def __init__(self, modem):
        self.modem = modem

    def link(self):
        return self.modem.cell

    async def read(self):
        cell = self.modem.cell
        return {"cell": cell} if cell else None


def reader(network, kind, modem=None):
    """The reader for the link core/netup.py brought up (`kind` "4g" or "wifi"), None for none."""
    if kind == "4g":
        return CellPlace(modem) if modem is not None else None
    if kind == "wifi":
        return WifiPlace(network.WLAN(network.STA_IF))
    return None
