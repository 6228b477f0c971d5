"""The firmware's core modules on real MicroPython (WebAssembly port in Node.js), checked against
cbor2, Python's hmac and the same modules on CPython."""
import hashlib
import hmac
import json
import pathlib
import random
import shutil
import subprocess

import cbor2
import pytest

from core import amount, codes, place
from core.api import DeviceApi
from drivers import modem, scan_engine, voice

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIRMWARE = ROOT / "firmware"
RUNNER = HERE / "mp_runner.mjs"
KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
    reason="needs node and npm install (make setup)")


def run_micropython(script, cases=None, tmp_path=None):
    args = ["node", str(RUNNER), str(FIRMWARE), str(HERE / script)]
    if cases is not None:
        path = tmp_path / "input.json"
        path.write_text(json.dumps(cases, ensure_ascii=False))
        args.append(str(path))
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "MicroPython failed:\n" + result.stderr + result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout
    return json.loads(lines[-1][len("RESULT "):])


CBOR_VALUES = [
    0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 63, 2 ** 64 - 1,
    -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 63), -(2 ** 64),
    "", "a", "微信收款 12.50 元", "x" * 300, b"", b"\x00\xff" * 200, True, False, None,
    [], [1, [2, [3, [4]]]], {}, {"order": {"order_no": "A1", "amount_fen": 1250, "reason": None},
                                 "server_time": 1763776800},
    {1: "int key", -5: [b"\x01"]}, list(range(30)),
]
CBOR_BAD = [cbor2.dumps(1.5), bytes.fromhex("f93c00"), cbor2.dumps(2 ** 64), bytes.fromhex("c11a514b67b0"),
            bytes.fromhex("9f01ff"), bytes.fromhex("1a0000"), bytes.fromhex("0000"), bytes.fromhex("62c328"),
            bytes.fromhex("a2616101616102"), bytes.fromhex("f7")]

AMOUNT_CASES = [
    [5000000, list("12.50")], [5000000, list("0.29")], [5000000, list("1.239")],
    [5000000, list("007")], [5000000, list("1..2")], [100000, list("1000001")],
    [5000000, ["1", "00", "DEL", "5"]], [5000000, ["9", "CLR", ".", "5"]], [5000000, ["1", ".", "5", "00"]],
    [5000000, list("99999999")],
]
CODE_CASES = ["134567890123456789", "281234567890123456", "6212345678901234567", "13456789012345678",
              "901234567890123456", "abc", "", " 101234567890123456\r", "2512345678901234"]
SPEECH = ["请出示付款码", "微信收款 12.50 元", "支付超时，已撤销", "a😀"]
SCAN_CASES = [
    [("0200000100" "3331" + "134567890123456789".encode().hex() + "0d")],
    ["02000001", "003331" + b"111".hex(), "0d0a" + b"222".hex() + "0a"],
    [b"12345".hex()],                                   # no ending: the idle end
    [b"1\t2\r\n\r\n3".hex()],
]


def cpython_amount(max_fen, keys):
    entry = amount.AmountEntry(max_fen)
    taken = []
    for key in keys:
        if key == "DEL":
            taken.append(entry.backspace())
        elif key == "CLR":
            entry.clear()
            taken.append(True)
        else:
            taken.append(entry.press(key))
    return [entry.text, entry.fen, taken, entry.display()]


def cpython_scan(chunks):
    rest, found = b"", []
    for chunk in chunks:
        got, rest = scan_engine.parse(rest + bytes.fromhex(chunk))
        found += got
    tail = scan_engine.finish(rest)
    return found + ([tail] if tail else [])


PLACE_CASES = {
    "registration": ['AT+CEREG?\r\r\n+CEREG: 2,1,"5E1A","01A2D001",7\r\n\r\nOK\r\n',
                     '\r\n+CREG: 2,5,"247d","0f3a",0\r\n\r\nOK\r\n', "\r\n+CEREG: 2,2\r\n\r\nOK\r\n",
                     '\r\n+CEREG: 2,1,"FFFE","01A2D001",7\r\n\r\nOK\r\n'],
    "cops": ['\r\n+COPS: 0,2,"46000",7\r\n\r\nOK\r\n', '\r\n+COPS: 0,2,"310410",2\r\n\r\nOK\r\n',
             '\r\n+COPS: 0,0,"CHINA MOBILE",7\r\n\r\nOK\r\n'],
    "wifi": {"ssid": "shop", "channel": 6, "rssi": -50, "scan": [
        [b"shop".hex(), "a45602112233", 6, -48], [b"shop".hex(), "a45602112237", 36, -55],
        [b"ChinaNet".hex(), "f0b429aabbc1", 1, -71], ["", "50bd5f010203", 11, -80],
        [b"shop".hex(), "0c0c0c0c0c01", 6, -82]]},
}


@pytest.fixture(scope="module")
def hmac_vectors():
    rng = random.Random(7)
    vectors = [(b"Jefe", b"what do ya want for nothing?"), (b"\xaa" * 131, b"x" * 200),
               (bytes.fromhex(KEY_HEX), b"POST\n/d/v1/pay\n1763776800\nn0nce123\n" + b"0" * 64)]
    for n in range(20):
        vectors.append((rng.randbytes(rng.randrange(0, 100)), rng.randbytes(rng.randrange(0, 300))))
    return vectors


@pytest.fixture(scope="module")
def micropython(tmp_path_factory, hmac_vectors):
    cases = {
        "cbor": [cbor2.dumps(v).hex() for v in CBOR_VALUES],
        "cbor_bad": [b.hex() for b in CBOR_BAD],
        "hmac": [[k.hex(), m.hex()] for k, m in hmac_vectors],
        "amount": AMOUNT_CASES,
        "codes": CODE_CASES,
        "speech": SPEECH,
        "scan": SCAN_CASES,
        "sign": [KEY_HEX, "/d/v1/pay", cbor2.dumps({"order_no": "A1", "amount_fen": 1250}).hex(),
                 1763776800, "n0nce123"],
        "keypad": [[0, 0, 60], [0, 0, 5], [3, 0, 60], [3, 2, 60], [3, 3, 60], [1, 3, 10]],
        "place": PLACE_CASES,
    }
    return run_micropython("mp_checks.py", cases, tmp_path_factory.mktemp("mp"))


def test_it_really_is_micropython(micropython):
    assert micropython["implementation"] == "micropython"


def test_cbor_round_trips_through_cbor2(micropython):
    for value, ours in zip(CBOR_VALUES, micropython["cbor"]):
        assert cbor2.loads(bytes.fromhex(ours)) == value


def test_cbor_refusals(micropython):
    assert micropython["cbor_bad"] == ["CBORError"] * len(CBOR_BAD)
    assert micropython["cbor_float"] == "CBORError"


def test_cbor_request_built_on_micropython_reads_in_cbor2(micropython):
    assert cbor2.loads(bytes.fromhex(micropython["cbor_request"])) == {
        "order_no": "D0001-ab12-000001", "amount_fen": 1250, "auth_code": "134567890123456789",
        "neg": -(2 ** 63), "big": 2 ** 64 - 1, "ok": True, "none": None, "raw": b"\x00\xff"}


def test_hmac_matches_python(micropython, hmac_vectors):
    assert micropython["hmac"] == [hmac.new(k, m, hashlib.sha256).hexdigest() for k, m in hmac_vectors]


def test_amount_entry_same_as_cpython(micropython):
    assert micropython["amount"] == [cpython_amount(m, k) for m, k in AMOUNT_CASES]
    assert micropython["amount"][0][1] == 1250 and micropython["amount"][1][1] == 29


def test_code_check_same_as_cpython(micropython):
    expected = []
    for code in CODE_CASES:
        try:
            expected.append(codes.check(code))
        except codes.CodeRefused as e:
            expected.append("!" + e.reason)
    assert micropython["codes"] == expected
    assert expected[:3] == ["wechat", "alipay", "unionpay"]


def test_voice_frames_same_as_cpython(micropython):
    assert micropython["syn6288"] == [voice.syn6288_frame(t).hex() for t in SPEECH]
    assert micropython["xfs5152"] == [voice.xfs5152_frame(t).hex() for t in SPEECH]
    frame = bytes.fromhex(micropython["syn6288"][1])
    assert frame[5:-1].decode("utf-16-be") == "微信收款 12.50 元"


def test_scan_parsing_same_as_cpython(micropython):
    assert micropython["scan"] == [cpython_scan(c) for c in SCAN_CASES]
    assert micropython["scan"][0] == ["134567890123456789"]


def test_signature_same_as_the_documented_recipe(micropython):
    body = cbor2.dumps({"order_no": "A1", "amount_fen": 1250})
    text = "POST\n/d/v1/pay\n1763776800\nn0nce123\n" + hashlib.sha256(body).hexdigest()
    expected = hmac.new(bytes.fromhex(KEY_HEX), text.encode(), hashlib.sha256).hexdigest()
    assert micropython["sign"]["X-Signature"] == expected
    assert micropython["sign"] == DeviceApi(None, "D0001", KEY_HEX).sign("/d/v1/pay", body, 1763776800, "n0nce123")


def test_compact_form_same_as_cpython(micropython):
    from core.api import sign_compact
    from core.compact import pack_keys
    body = cbor2.dumps({"order_no": "A1", "amount_fen": 1250})
    expected = sign_compact(bytes.fromhex(KEY_HEX), "D0001", "/d/v1/pay", body, 1763776800, b"n0nce123",
                            ("a4cf12fe3b5c", "0123456789abcdef"))
    assert micropython["compact"] == expected.hex()
    message = {"order": {"order_no": "A1", "status": "SUCCESS"}, "server_time": 1, "new": [{"wait": 0}]}
    assert cbor2.loads(bytes.fromhex(micropython["packed"])) == pack_keys(message) == {
        1: {2: "A1", 6: "SUCCESS"}, 12: 1, "new": [{17: 0}]}
    assert micropython["unpacked"] == message


def test_journal_survives_a_power_cut_on_micropython(micropython):
    result = micropython["journal"]
    first, second = result["numbers"]
    assert first != second and first.startswith("D0001-")
    assert result["orders"] == [{"order_no": first, "amount_fen": 1250, "status": "SUCCESS"}]
    assert result["next"].endswith("-000003")      # numbers handed out before the cut stay used


def test_keypad_debounce_on_micropython(micropython):
    assert micropython["keypad"] == ["1", ".", "00", "OK"]      # the 5 and 10 ms taps are bounce


def test_api_retries_on_micropython_asyncio(micropython):
    result = micropython["api"]
    assert result["status"] == "SUCCESS"
    stale, lost, good = result["sent"]
    assert stale[0] == "0" and lost[0] == good[0] == "1763776800"      # clock taken from the server
    assert stale[2] == lost[2] == good[2]                              # same body: same order_no
    assert len({stale[1], lost[1], good[1]}) == 3                      # a new nonce every time
    assert cbor2.loads(bytes.fromhex(good[2]))["order_no"] == "A1"


def test_app_state_machine_on_micropython(tmp_path):
    result = run_micropython("mp_app.py")
    assert result["said"] == ["请先输入金额", "请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert result["states"] == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT", "IDLE"]
    assert result["state_after_ok"] == "WAIT_SCAN" and result["triggers"] == 1
    order_no = result["calls"][0][1]
    assert result["calls"] == [["pay", order_no, 1250, "134567890123456789"], ["query", order_no, 20]]
    assert result["journal"][0]["status"] == "SUCCESS"
    assert result["led"] == ["blue", "green", "off"]


def test_runner_reports_python_errors(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text("from core import cbor\ncbor.decode(b'\\xf9\\x3c\\x00')\n")
    result = subprocess.run(["node", str(RUNNER), str(FIRMWARE), str(script)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "CBORError" in result.stderr


def test_drivers_on_micropython_asyncio():
    result = run_micropython("mp_drivers.py")
    assert result["scan"] == ["134567890123456789", "2812345678901234"]     # ACK filtered, idle end
    assert result["voice"]["frames"] == ["请出示付款码".encode("utf-16-be").hex()]
    assert result["voice"]["status_queries"] == 3 and not result["voice"]["silent"]  # busy, busy, idle
    assert result["keypad"] == "5"
    assert result["led"]["toggles"] >= 5 and result["led"]["final"] == [0, 1, 0]
    assert result["http"] == [[200, "9", "abc"], [401, None, "abcde"], [200, None, "to the end"]]
    assert result["url"] == ["https", "pay.example.com", 443, "/base"]


def test_the_place_parsed_on_micropython_as_on_cpython(micropython):
    ours = micropython["place"]
    assert ours["area"] == [[0x5E1A, 0x1A2D001], [0x247D, 0x0F3A], None, None]
    assert ours["area"] == [list(a) if a else None for a in (
        modem.parse_area(modem.parse_reply(text)[1]) for text in PLACE_CASES["registration"])]
    assert ours["operator"] == ["460-00", "310-410", None]
    wifi = PLACE_CASES["wifi"]
    scanned = [(bytes.fromhex(s), bytes.fromhex(b), c, r, 3, False) for s, b, c, r in wifi["scan"]]
    assert ours["wifi"] == place.wifi_place(scanned, wifi["ssid"], wifi["channel"], wifi["rssi"]) == {
        "bssid": "a4:56:02:11:22:33",
        "seen": ["a4:56:02:11:22:37", "f0:b4:29:aa:bb:c1", "50:bd:5f:01:02:03", "0c:0c:0c:0c:0c:01"]}
