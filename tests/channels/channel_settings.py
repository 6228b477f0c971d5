"""Adapter settings pointed at the local sandboxes, with the sandboxes' own keys (hw_sim/sandbox/keys.py)."""
from hw_sim.sandbox import keys as sandbox_keys
from hw_sim.sandbox.alipay import SANDBOX_APP_ID
from server.settings import AlipaySettings, Secret


def alipay_settings_for(base_url: str, **overrides) -> AlipaySettings:
    values = dict(enabled=True, base_url=base_url, app_id=SANDBOX_APP_ID,
                  app_private_key=Secret(sandbox_keys.ALIPAY_APP_PRIVATE_KEY),
                  alipay_public_key=sandbox_keys.ALIPAY_PLATFORM_PUBLIC_KEY, timeout_s=2.0)
    values.update(overrides)
    return AlipaySettings(**values)


def unionpay_settings_for(base_url: str, **overrides):
    from hw_sim.sandbox.unionpay import (SANDBOX_ACQ_CODE, SANDBOX_ACQUIRER_CERT_ID, SANDBOX_MER_ID,
                                         SANDBOX_UNIONPAY_CERT_ID)
    from server.settings import UnionPaySettings

    values = dict(enabled=True, base_url=base_url, acq_code=SANDBOX_ACQ_CODE, mer_id=SANDBOX_MER_ID,
                  sign_private_key=Secret(sandbox_keys.UNIONPAY_ACQUIRER_PRIVATE_KEY),
                  sign_cert_id=SANDBOX_ACQUIRER_CERT_ID, unionpay_public_key=sandbox_keys.UNIONPAY_PLATFORM_PUBLIC_KEY,
                  unionpay_cert_id=SANDBOX_UNIONPAY_CERT_ID, timeout_s=2.0)
    values.update(overrides)
    return UnionPaySettings(**values)


def plain_settings(settings) -> dict:
    """A settings dataclass as the dict load_settings() takes for its section."""
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}
