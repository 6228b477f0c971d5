"""scanpay payment server: device API, channel routing, order lifecycle."""
