"""Virtual `machine.Pin`: the API the firmware uses, plus the electrical side a simulator drives.

Firmware side (as on MicroPython): `Pin(id, mode=Pin.IN, pull=None, value=None)`, `init(...)`,
`value()` / `value(v)`, `on()`, `off()`, `pin()` / `pin(v)`, the mode and pull constants.

Simulator side: an input's level comes from `external` (a callable returning 0, 1 or None for
"nothing drives this pin"); undriven, a pull-up reads 1, a pull-down 0 and a floating pin 0.
An output's level is `driven`; `on_change(callback)` reports every change (LEDs, keypad rows).
"""


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id=None, mode=-1, pull=-1, *, value=None, name=None):
        self.id = id
        self.name = name or "GPIO%s" % id
        self.mode = self.IN
        self.pull = None
        self.driven = 0             # output level (what the firmware wrote)
        self.external = None        # input level from the circuit: callable -> 0, 1 or None
        self._listeners = []
        self.init(mode, pull, value=value)

    def __repr__(self):
        return "Pin(%s, mode=%s, level=%s)" % (self.name, "OUT" if self.mode == self.OUT else "IN",
                                               self.value())

    # --- machine.Pin API ---------------------------------------------------------------------
    def init(self, mode=-1, pull=-1, *, value=None, **_ignored):
        if mode != -1:
            if mode not in (self.IN, self.OUT, self.OPEN_DRAIN):
                raise ValueError("invalid pin mode %r" % (mode,))
            self.mode = mode
        if pull != -1:
            if pull not in (None, self.PULL_UP, self.PULL_DOWN):
                raise ValueError("invalid pull %r" % (pull,))
            self.pull = pull
        if value is not None:
            self._drive(value)

    def value(self, x=None):
        if x is None:
            return self.level()
        self._drive(x)
        return None

    __call__ = value
    pin = value

    def on(self):
        self._drive(1)

    def off(self):
        self._drive(0)

    def irq(self, *args, **kwargs):
        raise NotImplementedError("virtual pins have no interrupts; poll them")

    # --- simulator side -------------------------------------------------------------------------
    def level(self):
        """The level on the wire."""
        if self.mode == self.OUT:
            return self.driven
        if self.mode == self.OPEN_DRAIN and self.driven == 0:
            return 0
        level = self.external() if self.external else None
        if level is None:
            return 1 if self.pull == self.PULL_UP else 0
        return 1 if level else 0

    def on_change(self, callback):
        """Call `callback(pin, level)` whenever the firmware changes this pin's output level."""
        self._listeners.append(callback)

    def _drive(self, x):
        level = 1 if x else 0
        changed = level != self.driven
        self.driven = level
        if changed:
            for callback in list(self._listeners):
                callback(self, level)

    def drives_low(self):
        """True when this pin pulls its wire low (an output or open-drain output at 0)."""
        return self.mode in (self.OUT, self.OPEN_DRAIN) and self.driven == 0
