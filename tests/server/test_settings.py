"""Configuration: defaults with no file, TOML, environment, overrides, refusals, secrets."""
import logging

import pytest

from server.settings import Secret, SettingsError, load_settings

CONFIG = '''
[server]
port = 9000

[database]
path = "/tmp/x.db"

[device_api]
max_amount_fen = 100000

[[routing]]
channel = "wechat"
prefixes = ["13"]
lengths = [18]

[channels.wechat]
base_url = "https://api.mch.weixin.qq.com"
mch_id = "1900000109"
api_key = "a-real-looking-key-0123456789abcd"
sign_type = "MD5"
'''


def test_defaults_need_no_file():
    settings = load_settings()
    assert settings.database.path == "var/scanpay.db"
    assert settings.channels.wechat.base_url == "http://127.0.0.1:8091"
    assert settings.routing[0].prefixes == ("10", "11", "12", "13", "14", "15")
    assert settings.routing[0].lengths == (18,)


def test_toml_file_then_environment_then_overrides(tmp_path, monkeypatch):
    path = tmp_path / "scanpay.toml"
    path.write_text(CONFIG)
    settings = load_settings(path)
    assert settings.server.port == 9000
    assert settings.device_api.max_amount_fen == 100000
    assert settings.routing[0].prefixes == ("13",)
    assert settings.channels.wechat.sign_type == "MD5"
    assert settings.channels.wechat.appid == "wxd930ea5d5a258f4f"   # not in the file: default

    monkeypatch.setenv("SCANPAY_CONFIG", str(path))
    monkeypatch.setenv("SCANPAY_DB", "/tmp/from-env.db")
    assert load_settings().database.path == "/tmp/from-env.db"
    settings = load_settings(database={"path": ":memory:"}, channels={"wechat": {"deadline_s": 2}})
    assert settings.database.path == ":memory:"
    assert settings.channels.wechat.deadline_s == 2.0
    assert settings.channels.wechat.mch_id == "1900000109"          # the rest of the file still applies


def test_secrets_never_show(tmp_path, caplog):
    path = tmp_path / "scanpay.toml"
    path.write_text(CONFIG)
    settings = load_settings(path)
    assert isinstance(settings.channels.wechat.api_key, Secret)
    assert settings.channels.wechat.api_key.reveal() == "a-real-looking-key-0123456789abcd"
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    for text in (repr(settings), str(settings), caplog.text):
        assert "a-real-looking-key" not in text


@pytest.mark.parametrize("text, message", [
    ("[server]\nprot = 1\n", "unknown key server.prot"),
    ("[channels.paypal]\napp_id = 'x'\n", "unknown key channels.paypal"),
    ("[server]\nport = '80'\n", "server.port must be an integer"),
    ("[device_api]\nmax_amount_fen = 0\n", "max_amount_fen"),
    ("[device_api]\nnonce_ttl_s = 300\n", "nonce_ttl_s"),
    # shorter than the window it must outlive (600 s of window, 610 s of nonces)
    ("[device_api]\ntimestamp_window_s = 600\nnonce_ttl_s = 610\n", "nonce_ttl_s"),
    ("[device_api]\ntimestamp_window_s = 0\n", "timestamp_window_s"),
    ("[[routing]]\nchannel = 'paypal'\nprefixes = ['28']\nlengths = [18]\n", "unknown channel"),
    ("[device_api]\nmin_amount_fen = 0\n", "min_amount_fen"),
    ("[logging]\nformat = 'xml'\n", "logging.format"),
    ("[database]\npool_size = 1\n", "pool_size"),
    ("[[routing]]\nchannel = 'wechat'\nprefixes = ['1x']\nlengths = [18]\n", "prefixes"),
    ("[[routing]]\nchannel = 'wechat'\nprefixes = ['13']\n", "lengths"),
    ("[channels.wechat]\nsign_type = 'SHA1'\n", "sign_type"),
    ("[server\n", "config file"),
])
def test_bad_config_is_refused_with_the_key_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        load_settings(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "nope.toml")
