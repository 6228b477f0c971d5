"""The modem driver takes back a modem it finds in a data call, powers on one that is off, and keeps the
4G link up: the same script (mp_modem.py, a stand-in SIM7600 on the driver's UART) on CPython, on the
native MicroPython port with a fixed heap and on the WebAssembly port. PPP bytes on the line (0x7E
frames, 0x7D escapes, bytes that are not UTF-8) never reach a decoder: on MicroPython a stray byte used
to raise UnicodeError out of the AT chat and kill main()."""
import pytest

from tests.firmware import mp_run

RUNTIMES = ("cpython",) + mp_run.PORTS
NATIVE_HEAP = 96 * 1024       # the driver and this script compiled from source: 77 KiB is enough


@pytest.fixture(scope="module", params=RUNTIMES)
def modem_run(request, tmp_path_factory):
    runtime = request.param
    if runtime == "cpython":
        return mp_run.run_on_cpython("mp_modem.py")
    if not mp_run.available(runtime):
        pytest.skip(mp_run.skip_reason(runtime))
    return mp_run.run("mp_modem.py", port=runtime, workdir=tmp_path_factory.mktemp(runtime),
                      heap=NATIVE_HEAP if runtime == "native" else None)


AT_CHAT = ["ATE0", "AT+CPIN?", "AT+CGREG?", "AT+CSQ", "AT+COPS=3,2", "AT+COPS?", "AT+CEREG=2", "AT+CEREG?",
           "AT+CEREG=0", 'AT+CGDCONT=1,"IP","cmnet"', "ATD*99#"]


def test_ppp_bytes_are_not_modem_text(modem_run):
    assert modem_run["lines"] == [None, None, None, None, "OK"]
    assert modem_run["parse"] == ["OK", []]                        # PPP, then the answer
    assert modem_run["parse_info"] == ["OK", ["+CSQ: 20,99"]]      # an answer between PPP frames


def test_a_modem_left_in_a_data_call_is_escaped_hung_up_and_dialled_again(modem_run):
    found = modem_run["ppp_first"]
    assert found["up"] and found["frames"] > 3                     # PPP was pouring in all along
    assert found["log"] == ["+++", "ATH", "AT"] + AT_CHAT            # AT was data to it until the escape
    assert [c for c, _ in found["transcript"][:4]] == ["AT", "AT", "+++", "ATH"]
    assert found["transcript"][2] == ["+++", "OK"]                 # the guard times were kept
    assert found["cell"] == "460-00-24090-27447297"


def test_a_modem_that_is_off_gets_a_pwrkey_pulse(modem_run):
    found = modem_run["off"]
    assert found["up"] and found["log"] == ["AT"] + AT_CHAT
    # one press of at least pwrkey_ms (30), released again: held for 2.5 s, a SIM7600 powers off again
    # (the upper bound leaves the scheduler room on a loaded machine)
    assert len(found["presses"]) == 1 and 30 <= found["presses"][0] < 1000


def test_a_modem_that_never_answers_is_an_error_not_a_hang(modem_run):
    assert modem_run["dead"] == [["modem does not answer AT", 0],    # no PWRKEY wired: no pulse
                                 ["modem does not answer AT", 1]]    # one pulse, then it gives up


def test_a_dropped_call_is_dialled_again_with_backoff(modem_run):
    found = modem_run["redial"]
    assert found["first"] and found["up"] and found["dials"] == 2
    first, second, third = found["attempts"]        # after the drop: refused, refused, then up
    assert second - first < third - second           # the wait doubles after each refused dial
    assert found["ate0_total"] == 4                  # the first dial and these three
