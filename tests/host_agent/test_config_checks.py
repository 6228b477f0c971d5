"""Every config key checked like money: its type and range, unknown keys and sections named, each
mistake said in Chinese first, then English, naming the key and the value given, every mistake of a
file at once; and a good config (the guide's own example) still loads."""
import re
from pathlib import Path

import pytest

from host_agent.config import ConfigError, load_config
from tests.host_agent.test_agent_config import GOOD as PASSTHROUGH, KEY, write

# test_agent_config's config, its pole display sniffing with the defaults
GOOD = PASSTHROUGH[:PASSTHROUGH.index("[pole_display]")] + '[pole_display]\nport = "COM5"\n'
GUIDE = Path(__file__).parents[2] / "docs" / "host-agent.md"


def mistakes(tmp_path, text):
    """The (Chinese, English) sentences of the ConfigError loading `text` gives."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def with_keys(section, lines):
    """GOOD with `lines` added under [section] (a new section if GOOD has none)."""
    if "[%s]" % section in GOOD:
        return GOOD.replace("[%s]\n" % section, "[%s]\n%s\n" % (section, lines))
    return GOOD + "\n[%s]\n%s\n" % (section, lines)


def said(problems, *fragments):
    """The one problem naming all of `fragments` in its English sentence, checked bilingual."""
    found = [(zh, en) for zh, en in problems if all(f in en for f in fragments)]
    assert len(found) == 1, problems
    zh, en = found[0]
    assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en.split('e.g. ["')[0])
    return zh, en


def test_a_good_config_loads(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.pole_display.port == "COM5" and config.log.max_bytes == 5_000_000 and config.log.backups == 5


def test_the_guides_example_loads(tmp_path):
    """The config in docs/host-agent.md, its key filled in, passes every check: guide and checks agree."""
    example = re.search(r"```toml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S).group(1)
    config = load_config(write(tmp_path, example.replace("…64 hex characters…", KEY)))
    assert config.amount_source == "pole_display" and config.screen.region == [620, 540, 360, 48]


@pytest.mark.parametrize("section", ["pole_display", "screen"])
def test_one_word_where_a_list_is_meant_is_refused_not_split(tmp_path, section):
    zh, en = said(mistakes(tmp_path, with_keys(section, 'labels = "TOTAL"')), "[%s] labels" % section)
    assert 'not "TOTAL"' in en and '现为 "TOTAL"' in zh and "square brackets" in en
    said(mistakes(tmp_path, with_keys(section, 'labels = []')), "[%s] labels" % section, "not []")
    said(mistakes(tmp_path, with_keys(section, 'labels = ["TOTAL", 5]')), "labels", 'not ["TOTAL", 5]')


@pytest.mark.parametrize("section, line, value", [
    ("screen", "decimals = true", "true"),
    ("box", "baudrate = true", "true"),
    ("payment", "pay_attempts = true", "true"),
    ("screen", "interval_s = false", "false"),
    ("screen", "cross_check = 1", "1"),
    ("manual", "window = \"yes\"", '"yes"'),
    ("payment", "query_wait_s = 20.0", "20.0"),
    ("box", "baudrate = 9600.0", "9600.0"),
])
def test_true_is_not_a_number_and_a_number_not_true(tmp_path, section, line, value):
    name = line.split(" = ")[0]
    zh, en = said(mistakes(tmp_path, with_keys(section, line)), "[%s] %s must be" % (section, name))
    assert en.endswith("not " + value) and ("现为 " + value) in zh


TIME = ("a number of seconds from", "秒")
COUNT = ("a whole number", "整数")


@pytest.mark.parametrize("section, line, kind", [
    ("screen", "interval_s = 0", TIME), ("screen", "interval_s = -0.25", TIME), ("screen", "interval_s = nan", TIME),
    ("payment", "retry_s = 0", TIME), ("payment", "follow_s = -5", TIME), ("payment", "amount_ttl_s = inf", TIME),
    ("server", "timeout_s = 0", TIME),
    ("payment", "pay_attempts = 0", COUNT), ("payment", "pay_attempts = -1", COUNT),
    ("payment", "pay_attempts = 100", COUNT), ("payment", "query_wait_s = 0", COUNT),
    ("log", "backups = 0", COUNT), ("log", "max_bytes = 100", COUNT), ("pole_display", "lamp_extra_bytes = -1", COUNT),
])
def test_zero_or_negative_times_and_counts_are_refused(tmp_path, section, line, kind):
    name, value = line.split(" = ")
    zh, en = said(mistakes(tmp_path, with_keys(section, line)), "[%s] %s" % (section, name))
    assert kind[0] in en and en.endswith("not " + value) and kind[1] in zh and ("现为 " + value) in zh


@pytest.mark.parametrize("value", ["-1", "0", "50000001", "12.5"])
def test_the_typed_amount_limit_is_money(tmp_path, value):
    zh, en = said(mistakes(tmp_path, with_keys("manual", "max_fen = " + value)), "[manual] max_fen")
    assert "whole number of fen from 1 to 50000000" in en and en.endswith("not " + value) and "分" in zh


def test_unknown_keys_and_sections_are_named(tmp_path):
    problems = mistakes(tmp_path, with_keys("box", "speed = 9600") + "\n[severs]\nurl = \"x\"\n")
    zh, en = said(problems, "unknown key 'speed' in [box]")
    assert "speed" in zh and "baudrate" in en
    zh, en = said(problems, "unknown setting 'severs'")
    assert "severs" in zh


def test_amount_source_under_a_section_says_where_it_belongs(tmp_path):
    """TOML puts a key written after [box] into [box]: the usual slip with amount_source."""
    text = GOOD.replace('amount_source = "pole_display"\n', "") + 'amount_source = "pole_display"\n'
    zh, en = said(mistakes(tmp_path, text), "'amount_source' in [pole_display]")
    assert "top of the file" in en and "文件开头" in zh


def test_a_section_that_is_not_a_table(tmp_path):
    zh, en = said(mistakes(tmp_path, 'box = "COM4"\n' + GOOD.replace("[box]\nport = \"COM4\"\n", "")), "[box] must")
    assert 'not "COM4"' in en


@pytest.mark.parametrize("line, fragment", [
    ('mode = "tap"', "[pole_display] mode must be passthrough or sniff"),
    ('protocol = "vfd"', "[pole_display] protocol must be one of led8n, cd5220, epson, auto"),
    ('lamps = { price = 2 }', "which n lights the total"),
    ('lamps = { price = 2, total = 300 }', "lamps must be one of wintec"),
    ('encoding = "klingon"', "[pole_display] encoding must be a known text encoding"),
    ('lamp_order = "sideways"', "lamp_order must be one of auto, lamp_first, value_first"),
])
def test_choices_name_what_is_allowed(tmp_path, line, fragment):
    value = line.split(" = ", 1)[1]
    zh, en = said(mistakes(tmp_path, with_keys("pole_display", line)), fragment)
    assert value.split()[0].strip("{") in en and value.split()[0].strip("{") in zh


@pytest.mark.parametrize("line, value", [
    ("region = [10, 20, 300]", "[10, 20, 300]"), ("region = [10, 20, 0, 48]", "[10, 20, 0, 48]"),
    ("region = [10.5, 20, 300, 48]", "[10.5, 20, 300, 48]"), ('region = "10,20,300,48"', '"10,20,300,48"'),
])
def test_a_screen_region_is_four_whole_pixels(tmp_path, line, value):
    zh, en = said(mistakes(tmp_path, with_keys("screen", line)), "[screen] region")
    assert en.endswith("not " + value) and "calibrate" in zh


def test_a_region_left_of_the_main_monitor_is_allowed(tmp_path):
    text = with_keys("screen", "region = [-1300, -20, 300, 48]").replace(
        'amount_source = "pole_display"', 'amount_source = "screen"')
    assert load_config(write(tmp_path, text)).screen.region == [-1300, -20, 300, 48]


def test_a_wrong_key_is_not_printed(tmp_path):
    wrong = "cd" * 31 + "c"
    zh, en = said(mistakes(tmp_path, GOOD.replace(KEY, wrong)), "[server] device_key")
    assert wrong not in zh + en and wrong[-4:] not in zh + en and "63" in en


def test_keys_left_out_are_named(tmp_path):
    problems = mistakes(tmp_path, '[box]\nport = "COM4"\n')
    for name in ("[server] url", "[server] device_id", "[server] device_key"):
        zh, en = said(problems, name)
        assert en.endswith("not set") and zh.endswith("未填写")


def test_every_mistake_of_a_file_at_once(tmp_path):
    text = with_keys("payment", "pay_attempts = 0\nretry_s = -1")
    text = text.replace('port = "COM5"', 'port = "COM5"\nlabels = "TOTAL"') + "\n[manual]\nmax_fen = -1\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "4 mistakes" in message and "4 处错误" in message
    for name, value in [("pay_attempts", "0"), ("retry_s", "-1"), ("labels", '"TOTAL"'), ("max_fen", "-1")]:
        zh_at = message.index("%s 应为" % name)
        en_at = message.index("%s must be" % name)
        assert zh_at < en_at                # Chinese first, the English after it
        assert value in message[zh_at:en_at]


def test_a_windows_path_in_double_quotes_says_how_to_write_it(tmp_path):
    zh, en = said(mistakes(tmp_path, GOOD + '\n[log]\nfile = "C:\\scanpay\\agent.log"\n'), "not valid TOML")
    assert "single quotes" in en and "单引号" in zh

