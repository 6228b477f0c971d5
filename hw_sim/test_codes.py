"""Test payment codes: like card networks' test cards, the code itself chooses what the sandbox does.

Sandbox codes of every wallet share one layout after a wallet prefix:
    WeChat    13 SS PP RRRRRRRRRRRR    18 digits (WeChat: 18 digits starting 10-15)
    Alipay    28 SS PP RRRRRRRRRRRR    18 digits (Alipay: 16-24 digits starting 25-30)
    UnionPay  62 SS PP RRRRRRRRRRRRR   19 digits (UnionPay QR: 19 digits starting 62)
      SS  scenario (below)
      PP  parameter, e.g. seconds the payer takes to type the password
      R   random digits, so every code is a fresh one-time token
The wallet makes such codes, the sandboxes read the scenario back with `scenario_of`. docs/sandbox.md is the
page for users: every scenario, what each sandbox does with it and where the order ends (checked by
tests/docs/test_docs_sandbox.py, which fails when a scenario here is missing there).
"""
import secrets

WECHAT_PREFIX = "13"
ALIPAY_PREFIX = "28"
UNIONPAY_PREFIX = "62"

SUCCESS = "00"             # paid at once
PASSWORD = "01"            # the payer enters the password PP seconds later, then paid
INSUFFICIENT_FUNDS = "02"  # refused: not enough money
EXPIRED = "03"             # refused: the code expired
SYSTEM_ERROR = "04"        # the pay call answers "system error" but the payment goes through; query says paid
PAYER_GIVES_UP = "05"      # waiting for the password, which never comes
NO_ANSWER = "06"           # the sandbox holds the pay call PP seconds (0: until it shuts down), past any
                           # client timeout, and never takes the money
LOST_ANSWER = "07"         # the sandbox takes the money, then drops the connection without answering
ALREADY_USED = "08"        # the code was used before: refused
SLOW_ANSWER = "09"         # the money is taken at once, the success answer comes PP seconds later
MERCHANT_BARRED = "10"     # the channel refuses the merchant itself (WeChat NOAUTH, Alipay ACQ.SELLER_BEEN_BLOCKED,
                           # UnionPay 31 商户状态不正确): a failure of the channel's, not the payer's

SCENARIOS = {
    SUCCESS: "success",
    PASSWORD: "password",
    INSUFFICIENT_FUNDS: "insufficient_funds",
    EXPIRED: "expired",
    SYSTEM_ERROR: "system_error",
    PAYER_GIVES_UP: "payer_gives_up",
    NO_ANSWER: "no_answer",
    LOST_ANSWER: "lost_answer",
    ALREADY_USED: "already_used",
    SLOW_ANSWER: "slow_answer",
    MERCHANT_BARRED: "merchant_barred",
}

# wallet prefix -> length of its sandbox codes
_LAYOUTS = {WECHAT_PREFIX: 18, ALIPAY_PREFIX: 18, UNIONPAY_PREFIX: 19}


def make_code(prefix, scenario=SUCCESS, param=0):
    if prefix not in _LAYOUTS:
        raise ValueError("unknown wallet prefix %r" % prefix)
    if scenario not in SCENARIOS:
        raise ValueError("unknown scenario %r" % scenario)
    if not 0 <= param <= 99:
        raise ValueError("param must be 0..99")
    tail = "".join(secrets.choice("0123456789") for _ in range(_LAYOUTS[prefix] - 6))
    return "%s%s%02d%s" % (prefix, scenario, param, tail)


def make_wechat_code(scenario=SUCCESS, param=0):
    return make_code(WECHAT_PREFIX, scenario, param)


def make_alipay_code(scenario=SUCCESS, param=0):
    return make_code(ALIPAY_PREFIX, scenario, param)


def make_unionpay_code(scenario=SUCCESS, param=0):
    return make_code(UNIONPAY_PREFIX, scenario, param)


def scenario_of(code):
    """(scenario name, param) of a sandbox code; ('success', 0) for codes not made by make_code."""
    if code.isdigit() and _LAYOUTS.get(code[:2]) == len(code):
        name = SCENARIOS.get(code[2:4])
        if name:
            return name, int(code[4:6])
    return "success", 0
