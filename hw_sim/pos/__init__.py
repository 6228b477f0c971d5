"""A POS cashier program, simulated: what it writes to its customer pole display over a serial
pseudo-terminal (`pole_display`), and the cashier screens it draws (`screen`), for the host agent's tests."""
