"""The device's place (firmware/core/place.py): the connected access point picked out of a scan as the
ESP32 returns it, the visible ones beside it, and what the server makes of that
(server/devices/anti_switching.py)."""
from core.place import CellPlace, WifiPlace, bssid_text, reader, wifi_place
from drivers.modem import Modem

from hw_sim.modem import SHOP_AIR, VirtualModem, VirtualNetwork
from hw_sim.uart import VirtualUART
from server.devices import parse_place


def ap(ssid, bssid, channel, rssi):
    """One wlan.scan() entry as MicroPython on the ESP32 gives it: (ssid, bssid, channel, RSSI, security,
    hidden), ssid and bssid as bytes."""
    return (ssid.encode(), bytes.fromhex(bssid.replace(":", "")), channel, rssi, 3, False)


SCAN = [
    ap("ChinaNet-7Hx2", "f0:b4:29:aa:bb:c1", 1, -71),
    ap("shop", "a4:56:02:11:22:37", 36, -55),          # the shop router's 5 GHz radio
    ap("shop", "a4:56:02:11:22:33", 6, -48),           # the one the box is connected to
    ap("shop", "0c:0c:0c:0c:0c:01", 6, -82),           # a repeater with the same SSID, same channel
    ap("", "50:bd:5f:01:02:03", 11, -80),               # hidden SSID
]


def test_the_connected_access_point_and_the_others_strongest_first():
    place = wifi_place(SCAN, "shop", 6, rssi=-47)
    assert place == {"bssid": "a4:56:02:11:22:33",
                     "seen": ["a4:56:02:11:22:37", "f0:b4:29:aa:bb:c1", "50:bd:5f:01:02:03", "0c:0c:0c:0c:0c:01"]}
    # the server takes it, and counts one router's radios as one token
    assert parse_place({"place": place}) == ["wifi:a456021122", "wifi:f0b429aabb", "wifi:50bd5f0102",
                                             "wifi:0c0c0c0c0c"]


def test_of_two_with_our_ssid_on_our_channel_the_one_with_the_links_rssi():
    assert wifi_place(SCAN, "shop", 6, rssi=-80)["bssid"] == "0c:0c:0c:0c:0c:01"   # near the repeater
    assert wifi_place(SCAN, "shop", 6)["bssid"] == "a4:56:02:11:22:33"             # unknown: strongest


def test_not_found_in_the_scan_and_nothing_seen():
    place = wifi_place(SCAN, "office", 6, rssi=-50)
    assert "bssid" not in place and len(place["seen"]) == 5
    assert wifi_place([], "shop", 6, rssi=-50) is None


def test_at_most_16_seen_each_once():
    crowd = [ap("n%d" % i, "02:00:00:00:00:%02x" % i, 1, -40 - i) for i in range(30)]
    place = wifi_place(crowd + crowd[:3], "shop", 6)
    assert len(place["seen"]) == 16 and len(set(place["seen"])) == 16
    assert place["seen"][0] == "02:00:00:00:00:00"
    parse_place({"place": place})       # within what the server takes


def test_bssid_text():
    assert bssid_text(b"\xa4\x56\x02\x11\x22\x33") == "a4:56:02:11:22:33"


async def test_wifi_reader_on_the_station_interface():
    network = VirtualNetwork(ssids={"shop": "secret"}, access_points=SHOP_AIR)
    place = reader(network, "wifi")
    assert isinstance(place, WifiPlace)
    assert place.link() is None and await place.read() is None       # not connected: nothing to say
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect("shop", "secret")
    link = place.link()
    assert link == "shop/6"
    assert (await place.read())["bssid"] == "a4:56:02:11:22:33"
    network.move([("shop", "3c:46:d8:00:00:01", 11, -50)])            # another shop, same SSID
    assert place.link() != link
    assert await place.read() == {"bssid": "3c:46:d8:00:00:01"}


async def test_cell_reader_names_the_cell_the_modem_read_before_dialling():
    uart, sim = VirtualUART.pair("modem", 115200)
    modem = Modem(uart, "cmnet")
    VirtualModem(sim, cell=("460", "01", 0x2A3B, 0x0C0FFEE))           # China Unicom
    await modem.connect()
    place = reader(None, "4g", modem)
    assert isinstance(place, CellPlace)
    assert place.link() == "460-01-10811-12648430"
    assert await place.read() == {"cell": "460-01-10811-12648430"}
    assert parse_place({"place": await place.read()}) == ["cell:460-01-10811"]
    assert reader(None, None) is None and reader(None, "4g", None) is None
