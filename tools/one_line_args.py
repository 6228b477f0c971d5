"""argparse for the developer command lines (python -m tools, python -m hw_sim.demo, python -m hw_sim.virtual_board):
a mistake in the arguments is one line, Chinese first, and exit status 2, instead of argparse's usage block:

    python -m tools build: 参数有误 / bad arguments: argument --profile: invalid choice: 'x' (...) (python -m tools build --help)
"""
import argparse


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, "%s: 参数有误 / bad arguments: %s (%s --help)\n" % (self.prog, message, self.prog))


def port_number(text):
    """A port to listen on: 1-65535, or 0 for any free one; said plainly otherwise (not a traceback from bind)."""
    if not (text.isascii() and text.isdigit() and 0 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError("%r is not a port number (1-65535), nor 0 (any free port)" % text)
    return int(text)
