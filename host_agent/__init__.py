"""scanpay host agent: runs on the cashier PC (Windows or Linux), takes the amount from the POS
(pole-display serial data, the screen, or typed), the payment code from a basic scan box on USB
serial, and pays through the server's device API. `python -m host_agent --help`."""
