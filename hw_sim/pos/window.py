"""The POS cashier program's window on a real display (an X server such as Xvfb in the tests): it
shows `render_screen` full size at the top-left corner, so screen coordinates are image coordinates,
and changes the total when told on stdin, one command a line:

    total 12850        show 128.50 in the total field (with items adding up to it)
    clear              an empty total field
    quit

    python -m hw_sim.pos.window --font dejavu-sans --size 28 --theme dark --fmt label_zh
It prints "ready" once the window is mapped and "shown <command>" after each redraw.
"""
import argparse
import sys
import threading
import tkinter as tk

from PIL import ImageTk

from hw_sim.pos.screen import ScreenStyle, items_for, render_screen


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw_sim.pos.window")
    parser.add_argument("--font", default="dejavu-sans")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--theme", default="light")
    parser.add_argument("--fmt", default="yen_comma")
    args = parser.parse_args(argv)
    style = ScreenStyle(font=args.font, size=args.size, theme=args.theme, fmt=args.fmt)

    root = tk.Tk()
    root.overrideredirect(True)         # no frame: the screen starts at (0, 0) like a full-screen POS
    root.geometry("+0+0")
    label = tk.Label(root, borderwidth=0, highlightthickness=0)
    label.pack()

    def show(amount_fen, command):
        shot = render_screen(style, amount_fen, items_for(amount_fen) if amount_fen else ())
        label.image = ImageTk.PhotoImage(shot.image)
        label.configure(image=label.image)
        root.update_idletasks()
        print("shown %s" % command, flush=True)

    def read_commands():
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command == "clear":
                root.after(0, show, None, command)
            elif command.startswith("total "):
                root.after(0, show, int(command.split()[1]), command)
        root.after(0, root.quit)

    show(None, "start")
    root.update()
    print("ready", flush=True)
    threading.Thread(target=read_commands, daemon=True).start()
    root.mainloop()


if __name__ == "__main__":
    main()
