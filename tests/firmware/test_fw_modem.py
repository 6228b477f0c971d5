"""Modem: pure parsing of recorded replies, and the AT chat to data mode and PPP against the virtual
modem (an AT responder, then a byte pipe)."""
import asyncio

import pytest
from drivers.modem import (
    Modem,
    ModemError,
    cell_text,
    creg_registered,
    csq_to_dbm,
    parse_area,
    parse_operator,
    parse_reply,
)

from hw_sim.modem import VirtualModem, VirtualNetwork
from hw_sim.uart import VirtualUART
from server.devices import parse_place


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
                                                "AT+COPS=3,2", "AT+COPS?", "AT+CEREG=2", "AT+CEREG?",
                                                "AT+CEREG=0", 'AT+CGDCONT=1,"IP","cmnet"', "ATD*99#"]
    assert modem.cell == "460-00-24090-27447297"       # read before dialling: PPP owns the line after
    assert sim.reporting == {"+CEREG": 0}               # no unsolicited +CEREG into the data call
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


# Replies as the modems send them, bytes and all (echo on: the command comes back first).
@pytest.mark.parametrize("reply, area", [
    (b'AT+CEREG?\r\r\n+CEREG: 2,1,"5E1A","01A2D001",7\r\n\r\nOK\r\n', (0x5E1A, 0x1A2D001)),   # SIM7600, LTE
    (b'\r\n+CEREG: 2,5,"5e1a","1a2d001",7\r\n\r\nOK\r\n', (0x5E1A, 0x1A2D001)),          # EC20, roaming
    (b'\r\n+CREG: 2,1,"247D","0F3A",0\r\n\r\nOK\r\n', (0x247D, 0x0F3A)),                 # GSM
    (b'\r\n+CEREG: 1,"5E1A","01A2D001",7\r\n+CEREG: 2,1,"5E1A","01A2D001",7\r\n\r\nOK\r\n',
     (0x5E1A, 0x1A2D001)),                                          # an unsolicited report came first
    (b'\r\n+CEREG: 0,1\r\n\r\nOK\r\n', None),               # reporting without location (n=0)
    (b'\r\n+CEREG: 2,2\r\n\r\nOK\r\n', None),               # still searching
    (b'\r\n+CEREG: 2,0,"FFFE","FFFFFFFF",7\r\n\r\nOK\r\n', None),   # not registered
    (b'\r\n+CEREG: 2,1,"FFFE","01A2D001",7\r\n\r\nOK\r\n', None),   # TAC "deleted": no area
    (b'\r\n+CEREG: 2,1,"","",7\r\n\r\nOK\r\n', None),
    (b'\r\n+CEREG: 2,1,"5G1A","01A2D001",7\r\n\r\nOK\r\n', None),   # not hex
])
def test_location_area_and_cell_from_the_registration_answer(reply, area):
    final, info = parse_reply(reply.decode())
    assert final == "OK"
    assert parse_area(info) == area


@pytest.mark.parametrize("reply, operator", [
    (b'\r\n+COPS: 0,2,"46000",7\r\n\r\nOK\r\n', "460-00"),           # China Mobile, LTE
    (b'\r\n+COPS: 0,2,"46011",7\r\n\r\nOK\r\n', "460-11"),           # China Telecom
    (b'\r\n+COPS: 1,2,"310410",2\r\n\r\nOK\r\n', "310-410"),         # a three-digit MNC
    (b'\r\n+COPS: 0,0,"CHINA MOBILE",7\r\n\r\nOK\r\n', None),       # a name, not digits
    (b'\r\n+COPS: 0\r\n\r\nOK\r\n', None),                          # no operator
])
def test_operator_from_cops(reply, operator):
    assert parse_operator(parse_reply(reply.decode())[1]) == operator


def test_the_cell_as_the_server_reads_it():
    cell = cell_text("460-00", (0x5E1A, 0x1A2D001))
    assert cell == "460-00-24090-27447297"
    assert parse_place({"place": {"cell": cell}}) == ["cell:460-00-24090"]   # the area is the token
    assert cell_text(None, (1, 2)) is None and cell_text("460-00", None) is None


async def test_a_modem_that_names_no_cell_still_dials():
    uart, _sim = modem_pair(cell=None)
    modem = Modem(uart, "cmnet")
    await modem.connect()
    assert modem.data_mode and modem.cell is None
