# The firmware's version, reported in HELLO (basic box) and heartbeat.
VERSION = "0.2.0"
