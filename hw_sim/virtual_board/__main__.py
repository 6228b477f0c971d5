"""python -m hw_sim.virtual_board --fs DIR: run a virtual board until Ctrl-C, printing its port."""
import argparse
import signal
import sys

from hw_sim.virtual_board import VirtualBoard


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw_sim.virtual_board", description=__doc__)
    parser.add_argument("--fs", default="var/virtual_board", help="host directory holding the board's flash")
    parser.add_argument("--heap", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--run-main", action="store_true", help="run main.py after each reset")
    args = parser.parse_args(argv)
    # blocked in every thread, taken by sigwait below: Ctrl-C stops the board cleanly (files synced)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    board = VirtualBoard(args.fs, heap=args.heap, run_main=args.run_main).start()
    print(board.port, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
