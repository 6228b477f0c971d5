# The stand-in peripherals live with the virtual board's jig (hw_sim/virtual_board/jig/mp_standins.py, which
# mp_runner.mjs and mp_run.py put on MicroPython's path); CPython tests import them by this name.
from hw_sim.virtual_board.jig.mp_standins import *  # noqa: F401,F403
