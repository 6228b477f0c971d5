"""Adapter settings pointed at the local sandboxes, with the sandboxes' own keys (hw_sim/sandbox/keys.py), as
hw_sim's ServerStack configures its server (sandbox_channel_settings)."""
from hw_sim.boards.stack import sandbox_channel_settings
from server.settings import AlipaySettings, UnionPaySettings


def alipay_settings_for(base_url: str, **overrides) -> AlipaySettings:
    return AlipaySettings(**{**sandbox_channel_settings("alipay", base_url), "timeout_s": 2.0, **overrides})


def unionpay_settings_for(base_url: str, **overrides) -> UnionPaySettings:
    return UnionPaySettings(**{**sandbox_channel_settings("unionpay", base_url), "timeout_s": 2.0, **overrides})
