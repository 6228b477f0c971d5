# Bringing the network up, for the profiles that have one: the modem (3G/4G, PPP) when the config
# names an APN and the board has a modem, else Wi-Fi. `network` is passed in (MicroPython's module on
# a board, hw_sim's virtual one in the simulator).
from core.compat import asleep_ms


async def join_wifi(network, config, timeout_s=30):
    wifi = config.get("wifi") or {}
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected():
        return True
    wlan.connect(wifi.get("ssid", ""), wifi.get("password", ""))
    for _ in range(timeout_s * 10):
        if wlan.isconnected():
            return True
        await asleep_ms(100)
    return False


async def bring_up(network, config, hw):
    """("4g", modem) or ("wifi", None) once connected; (None, modem or None) when it failed."""
    modem_config = config.get("modem")
    if modem_config and getattr(hw, "modem_uart", None) is not None:
        from drivers.modem import Modem, ModemError
        modem = Modem(hw.modem_uart, modem_config.get("apn", ""), modem_config.get("pin"))
        try:
            await modem.connect()
            if await modem.start_ppp(network):
                return "4g", modem
        except ModemError:
            pass
        return None, modem
    if await join_wifi(network, config):
        return "wifi", None
    return None, None
