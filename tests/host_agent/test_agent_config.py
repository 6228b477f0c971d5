"""The agent's TOML config: what an installer writes, and a clear error for each mistake."""
import pytest

from host_agent.config import ConfigError, load_config, parse_config

KEY = "ab" * 32
GOOD = """
amount_source = "pole_display"

[server]
url = "https://pay.example.com"
device_id = "PC0001"
device_key = "%s"

[box]
port = "COM4"

[pole_display]
mode = "passthrough"
port = "COM5"
display_port = "COM1"
protocol = "led8n"
lamps = { price = 2, total = 3, collect = 4, change = 5 }
lamp_extra_bytes = 1
""" % KEY


def write(tmp_path, text):
    path = tmp_path / "host_agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_config(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.amount_source == "pole_display"
    assert config.pole_display.lamps == {"price": 2, "total": 3, "collect": 4, "change": 5}
    assert config.pole_display.baudrate == 2400 and config.box.baudrate == 115200
    assert config.payment.query_wait_s == 20
    assert KEY not in config.describe() and KEY[-4:] in config.describe()
    assert KEY not in repr(config)


@pytest.mark.parametrize("change, message", [
    (('device_key = "%s"' % KEY, 'device_key = "abc"'), "device_key must be the 64 hex"),
    (('url = "https://pay.example.com"', 'url = "pay.example.com"'), "url must be"),
    (('port = "COM4"', 'port = ""'), r"\[box\] port"),
    (('mode = "passthrough"', 'mode = "tap"'), "mode must be passthrough or sniff"),
    (('display_port = "COM1"', ''), "passthrough needs display_port"),
    (('protocol = "led8n"', 'protocol = "vfd"'), "protocol must be one of led8n, cd5220, epson"),
    (('lamps = { price = 2, total = 3, collect = 4, change = 5 }', 'lamps = { price = 2 }'),
     "which n lights the total"),
    (('lamps = { price = 2, total = 3, collect = 4, change = 5 }', 'lamps = "acme"'), "lamps must be one of"),
    (('amount_source = "pole_display"', 'amount_source = "psychic"'), "amount_source must be one of"),
    (('[box]', '[box]\nspeed = 9600'), "unknown key 'speed' in \\[box\\]"),
    (('[box]\nport = "COM4"', '[box]\nport = "COM4"\nbaudrate = "fast"'), "baudrate must be a number"),
])
def test_mistakes_are_named(tmp_path, change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, GOOD.replace(old, new)))


def test_screen_needs_a_calibrated_region(tmp_path):
    text = GOOD.replace('amount_source = "pole_display"', 'amount_source = "screen"')
    with pytest.raises(ConfigError, match="calibrate"):
        load_config(write(tmp_path, text))
    config = load_config(write(tmp_path, text + "\n[screen]\nregion = [10, 20, 300, 48]\n"))
    assert config.screen.region == [10, 20, 300, 48]


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\n"))
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_config({"severs": {}})


def test_each_amount_source_is_built_from_the_config(tmp_path):
    from host_agent.sources import make_source
    from host_agent.sources.manual import ManualSource
    from host_agent.sources.pole_display import PoleDisplaySource
    from host_agent.sources.screen import ScreenSource

    pole = make_source(load_config(write(tmp_path, GOOD)))
    assert isinstance(pole, PoleDisplaySource)
    assert (pole.mode, pole.port, pole.display_port, pole.baudrate) == ("passthrough", "COM5", "COM1", 2400)
    assert pole.parser._lamp_by_n == {2: "price", 3: "total", 4: "collect", 5: "change"}
    assert pole.parser._lamp_extra == 1

    screen_text = GOOD.replace('amount_source = "pole_display"', 'amount_source = "screen"')
    screen = make_source(load_config(write(tmp_path, screen_text + "\n[screen]\nregion = [1, 2, 300, 40]\n")))
    assert isinstance(screen, ScreenSource) and screen.region == (1, 2, 300, 40)

    manual_text = GOOD.replace('amount_source = "pole_display"', 'amount_source = "manual"')
    manual = make_source(load_config(write(tmp_path, manual_text + "\n[manual]\nwindow = false\n")))
    assert isinstance(manual, ManualSource) and manual.prefer_window is False
