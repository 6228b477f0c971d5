"""Everything simulated: virtual peripherals and boards, wallets, channel sandboxes.

Only the demo and the tests wire hw_sim to production code; production code never imports it.
"""
