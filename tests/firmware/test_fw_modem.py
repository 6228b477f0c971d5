"""Modem: pure parsing of recorded replies, and the AT chat to data mode and PPP against the virtual
modem (an AT responder, then a byte pipe)."""
import asyncio

import pytest

from drivers.modem import Modem, ModemError, creg_registered, csq_to_dbm, parse_reply
from hw_sim.modem import VirtualModem, VirtualNetwork
from hw_sim.uart import VirtualUART


@pytest.mark.parametrize("text, final, info", [
    ("AT\r\r\nOK\r\n", "OK", []),
    ("\r\n+CSQ: 20,99\r\n\r\nOK\r\n", "OK", ["+CSQ: 20,99"]),
    ("\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n", "OK", ["+CPIN: SIM PIN"]),
    ("\r\n+CME ERROR: 10\r\n", "+CME ERROR: 10", []),
    ("\r\nCONNECT 150000000\r\n", "CONNECT 150000000", []),
    ("\r\n+CSQ: 20,", None, ["+CSQ: 20,"]),         # still arriving
    ("\r\nNO CARRIER\r\n", "NO CARRIER", []),
])
def test_parse_reply(text, final, info):
    assert parse_reply(text) == (final, info)


def test_signal_and_registration():
    assert csq_to_dbm(["+CSQ: 20,99"]) == -73 and csq_to_dbm(["+CSQ: 99,99"]) is None
    assert creg_registered(["+CGREG: 0,1"]) and creg_registered(["+CREG: 0,5"])
    assert not creg_registered(["+CGREG: 0,2"]) and not creg_registered([])


def modem_pair(**options):
    device, peripheral = VirtualUART.pair("modem", 115200)
    return device, VirtualModem(peripheral, **options)


async def test_chat_to_data_mode_then_ppp():
    uart, sim = modem_pair(rssi=25)
    modem = Modem(uart, "cmnet")
    await modem.connect()
    assert modem.data_mode and sim.data_mode and sim.apn == "cmnet"
    assert modem.signal_dbm == -63
    assert [c for c, _ in modem.transcript] == ["AT", "ATE0", "AT+CPIN?", "AT+CGREG?", "AT+CSQ",
                                                'AT+CGDCONT=1,"IP","cmnet"', "ATD*99#"]
    network = VirtualNetwork(sim)
    assert await modem.start_ppp(network, timeout_ms=500)
    assert sim.data.startswith(b"\x7e\xff")            # PPP frames now go down the pipe
    assert network.ppp.ifconfig()[0] != "0.0.0.0"
    sim.hang_up()
    assert not network.ppp.isconnected()


async def test_sim_pin():
    uart, sim = modem_pair(sim_pin="0000")
    await Modem(uart, "cmnet", pin="0000").connect()
    assert sim.unlocked and sim.data_mode
    uart, sim = modem_pair(sim_pin="0000")
    with pytest.raises(ModemError, match="SIM locked"):
        await Modem(uart, "cmnet").connect()
    uart, sim = modem_pair(sim_pin="0000")
    with pytest.raises(ModemError, match="CME ERROR"):
        await Modem(uart, "cmnet", pin="9999").connect()


async def test_dead_modem_and_no_network():
    uart, _sim = modem_pair(answer=False)
    with pytest.raises(ModemError, match="does not answer"):
        await asyncio.wait_for(Modem(uart, "cmnet").connect(), 10)
    uart, _sim = modem_pair(registered=False)
    modem = Modem(uart, "cmnet")
    modem.register_ms = 300
    with pytest.raises(ModemError, match="not registered"):
        await modem.connect()
