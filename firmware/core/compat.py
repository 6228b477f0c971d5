# What MicroPython has built in and CPython lacks (or names differently), in one place, so every
# other firmware module reads the same on the board, in the simulator and in the tests.
# The CPython fallbacks below redefine what the MicroPython stubs declare (type checker: allowed here).
# pyright: reportAssignmentType=false
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

import asyncio

try:
    from time import ticks_ms, ticks_diff, ticks_add, sleep_ms
except ImportError:  # CPython: same wrap-around arithmetic as MicroPython (30-bit ticks)
    import time as _time

    _PERIOD = const(1 << 30)
    _HALF = const(1 << 29)

    def ticks_ms():
        return (_time.monotonic_ns() // 1000000) & (_PERIOD - 1)  # pyright: ignore  (CPython only)

    def ticks_add(ticks, delta):
        return (ticks + delta) & (_PERIOD - 1)

    def ticks_diff(new, old):
        return ((new - old + _HALF) & (_PERIOD - 1)) - _HALF

    def sleep_ms(ms):
        _time.sleep(ms / 1000)

if hasattr(asyncio, "sleep_ms"):
    async def asleep_ms(ms):
        # a coroutine, not MicroPython's singleton generator: wait_for_ms and create_task accept it
        await asyncio.sleep_ms(ms)

    wait_for_ms = asyncio.wait_for_ms
else:  # CPython
    async def asleep_ms(ms):
        await asyncio.sleep(ms / 1000)

    async def wait_for_ms(aw, ms):
        return await asyncio.wait_for(aw, ms / 1000)

try:
    from os import urandom
except ImportError:  # MicroPython WebAssembly has no os.urandom
    import random as _random

    def urandom(n):
        return bytes(_random.getrandbits(8) for _ in range(n))
