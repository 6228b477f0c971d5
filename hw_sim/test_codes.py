"""Test payment codes: like card networks' test cards, the code itself chooses what the sandbox does.

A WeChat payment code is 18 digits starting 10-15. Sandbox codes are laid out
    13 SS PP RRRRRRRRRRRR
      SS  scenario (below)
      PP  parameter, e.g. seconds the payer takes to type the password
      R   random digits, so every code is a fresh one-time token
The wallet makes such codes, the sandbox reads the scenario back with `scenario_of`.
"""
import secrets

WECHAT_PREFIX = "13"

SUCCESS = "00"             # paid at once
PASSWORD = "01"            # USERPAYING; payer enters the password PP seconds later, then SUCCESS
INSUFFICIENT_FUNDS = "02"  # NOTENOUGH
EXPIRED = "03"             # AUTHCODEEXPIRE
SYSTEM_ERROR = "04"        # micropay answers SYSTEMERROR but the payment goes through; query says SUCCESS
PAYER_GIVES_UP = "05"      # USERPAYING and the payer never types the password

SCENARIOS = {
    SUCCESS: "success",
    PASSWORD: "password",
    INSUFFICIENT_FUNDS: "insufficient_funds",
    EXPIRED: "expired",
    SYSTEM_ERROR: "system_error",
    PAYER_GIVES_UP: "payer_gives_up",
}


def make_wechat_code(scenario=SUCCESS, param=0):
    if scenario not in SCENARIOS:
        raise ValueError("unknown scenario %r" % scenario)
    if not 0 <= param <= 99:
        raise ValueError("param must be 0..99")
    tail = "".join(secrets.choice("0123456789") for _ in range(12))
    return "%s%s%02d%s" % (WECHAT_PREFIX, scenario, param, tail)


def scenario_of(code):
    """(scenario name, param) of a sandbox code; ('success', 0) for codes not made by make_wechat_code."""
    if len(code) == 18 and code.isdigit() and code.startswith(WECHAT_PREFIX):
        name = SCENARIOS.get(code[2:4])
        if name:
            return name, int(code[4:6])
    return "success", 0
