# The device's order journal: the last N orders and the order-number counter, in one small file.
# Saved by writing a temporary file and renaming it over the journal: littlefs (ESP32) makes the
# rename atomic, so after a power cut the file holds either the old or the new state, never half.
# A save returns only after the rename, and nothing is announced or handed out (an order number,
# a result) before its save returned: a power cut never loses what was already confirmed.
import json
import os
from binascii import hexlify

from core.compat import urandom

_VERSION = 1
_replace = getattr(os, "replace", os.rename)     # CPython on Windows needs replace(); same elsewhere


def _read(path):
    try:
        with open(path) as f:
            state = json.load(f)          # streamed: no second copy of the file as one string
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("v") != _VERSION:
        return None
    return state


class Journal:
    def __init__(self, path, size=100):
        self.path = path
        self.size = size
        # the journal itself first; the temporary file only when the journal is gone or torn
        # (on FAT, MicroPython renames over a file by deleting it first)
        state = _read(path) or _read(path + ".tmp")
        if state is None:
            state = {"v": _VERSION, "salt": hexlify(urandom(2)).decode(), "counter": 0, "orders": []}
        self._state = state

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            # json.dump writes piece by piece; json.dumps would build the whole journal (100 orders) as one
            # string on the heap at every save, the biggest single allocation of a payment.
            json.dump(self._state, f)
        _replace(tmp, self.path)

    def next_order_no(self, device_id):
        """A new order number, never handed out before by this device (saved before returning).
        The salt, drawn when the journal was created, keeps numbers unique after a flash wipe."""
        self._state["counter"] += 1
        order_no = "%s-%s-%06d" % (device_id, self._state["salt"], self._state["counter"])
        if len(order_no) > 32:
            raise ValueError("device id too long for an order number")
        self.save()
        return order_no

    def record(self, order):
        """Add or update an order (a dict with at least order_no), keep the newest `size`, save."""
        orders = self._state["orders"]
        for i in range(len(orders)):
            if orders[i]["order_no"] == order["order_no"]:
                orders[i].update(order)
                break
        else:
            orders.append(dict(order))
        while len(orders) > self.size:
            orders.pop(0)
        self.save()

    def get(self, order_no):
        for order in self._state["orders"]:
            if order["order_no"] == order_no:
                return order
        return None

    def orders(self):
        """Newest first."""
        return list(reversed(self._state["orders"]))

    def unfinished(self):
        """Orders sent (or about to be) whose final state the device has not seen yet."""
        return [o for o in self._state["orders"] if o.get("status") in ("NEW", "PAYING")]

    @property
    def counter(self):
        return self._state["counter"]
