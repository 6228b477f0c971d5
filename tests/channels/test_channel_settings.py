"""Channel config: defaults from the sources, keys required when enabled, secrets never shown."""
import pytest

from tests.channels.channel_settings import alipay_settings_for, unionpay_settings_for
from server.channels.routing import CodeRouter
from server.settings import SettingsError, load_settings


def test_schedules_default_to_the_sources():
    channels = load_settings().channels
    # Alipay's face-to-face demo: 5 queries 5 s apart, then cancel retried 3 times 2 s apart.
    assert (channels.alipay.query_interval_s, channels.alipay.deadline_s) == (5.0, 25.0)
    assert (channels.alipay.cancel_retry_s, channels.alipay.cancel_attempts) == (2.0, 3)
    assert (channels.wechat.query_interval_s, channels.wechat.deadline_s) == (5.0, 45.0)
    assert not channels.alipay.enabled and not channels.unionpay.enabled   # no keys, no channel


def test_default_routing_tells_the_wallets_apart():
    router = CodeRouter(load_settings().routing)
    assert router.channel_for("134567890123456789") == "wechat"
    for length in (16, 18, 24):
        assert router.channel_for("28" + "1" * (length - 2)) == "alipay"
    assert router.channel_for("28" + "1" * 13) is None and router.channel_for("31" + "1" * 16) is None
    assert router.channel_for("6212345678901234567") == "unionpay"
    assert router.channel_for("621234567890123456") is None


@pytest.mark.parametrize("channel, missing", [("alipay", {"enabled": True, "app_id": "1"}),
                                              ("unionpay", {"enabled": True, "mer_id": "1"})])
def test_an_enabled_channel_needs_its_keys(channel, missing):
    with pytest.raises(SettingsError, match=f"channels.{channel} needs"):
        load_settings(channels={channel: missing})


def test_private_keys_never_show_in_reprs():
    for settings in (alipay_settings_for("http://x"), unionpay_settings_for("http://x")):
        assert "PRIVATE KEY" not in repr(settings) and "PRIVATE KEY" not in str(settings)
