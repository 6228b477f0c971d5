"""Amount source: the cashier types the amount, in a small always-on-top window (tkinter) or, where
there is no display or no tkinter, on the agent's terminal.

    ManualSource(prefer_window=True)   # the window when possible, else the terminal

The window runs tkinter in its own thread (Tk must live in one thread); amounts come out through
the same `emit` as the other sources.
"""
import asyncio
import logging
import os
import sys
import threading

from host_agent.amount import AmountError, format_fen, parse_yuan
from host_agent.sources import AmountReading, AmountSource

log = logging.getLogger(__name__)

MAX_FEN = 500000 * 100


def parse_typed(text, max_fen=MAX_FEN):
    """What the cashier typed -> fen; AmountError with a message fit to show them."""
    text = text.strip().replace("¥", "").replace("￥", "").strip()
    if not text:
        raise AmountError("type an amount, e.g. 12.50")
    amount_fen = parse_yuan(text)
    if amount_fen > max_fen:
        raise AmountError("%s is more than the most this till takes (%s)" % (format_fen(amount_fen),
                                                                             format_fen(max_fen)))
    return amount_fen


def window_possible():
    """True when a tkinter window can be shown here (tkinter installed and a display to show it on)."""
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return False
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class ManualSource(AmountSource):
    name = "manual"

    def __init__(self, *, prefer_window=True, stdin=None, stdout=None, max_fen=MAX_FEN):
        self.prefer_window = prefer_window
        self.stdin = stdin
        self.stdout = stdout
        self.max_fen = max_fen
        self.status = None          # a callback the window shows payment outcomes through
        self._window_failed = False

    @classmethod
    def from_config(cls, section):
        return cls(prefer_window=section.window, max_fen=section.max_fen)

    async def run(self, emit):
        loop = asyncio.get_running_loop()

        def typed(amount_fen, text):
            loop.call_soon_threadsafe(emit, AmountReading(amount_fen, self.name, text))

        if self.prefer_window and window_possible():
            done = asyncio.Event()
            thread = threading.Thread(target=self._window, args=(typed, loop, done), daemon=True,
                                      name="manual-window")
            thread.start()
            try:
                await done.wait()
            finally:
                self._quit_window()
                await asyncio.to_thread(thread.join, 5)     # the window is gone when run() ends
            if not self._window_failed:
                return
        await self._terminal(typed)

    # ------------------------------------------------------------------ terminal
    async def _terminal(self, typed):
        stdin = self.stdin or sys.stdin
        stdout = self.stdout or sys.stdout
        prompt = "amount (yuan, e.g. 12.50) > "
        while True:
            stdout.write(prompt)
            stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:                # end of input: nothing more will be typed
                await asyncio.Event().wait()
            try:
                amount_fen = parse_typed(line, self.max_fen)
            except AmountError as exc:
                stdout.write("not taken: %s\n" % exc)
                continue
            stdout.write("amount %s yuan: ask the customer to show the payment code\n" % format_fen(amount_fen))
            typed(amount_fen, line.strip())

    # ------------------------------------------------------------------ window
    def _window(self, typed, loop, done):
        import tkinter as tk
        try:
            root = tk.Tk()
        except tk.TclError as exc:
            log.warning("no window (%s): type amounts in the terminal instead", exc)
            self._window_failed = True
            loop.call_soon_threadsafe(done.set)
            return
        self._root = root
        root.title("scanpay 收款")
        root.attributes("-topmost", True)
        entry_text = tk.StringVar()
        message = tk.StringVar(value="输入金额 / amount")
        tk.Label(root, textvariable=message, font=("TkDefaultFont", 12)).pack(padx=12, pady=(10, 4))
        entry = tk.Entry(root, textvariable=entry_text, font=("TkFixedFont", 22), justify="right", width=10)
        entry.pack(padx=12, pady=4)
        entry.focus_set()

        def submit(_event=None):
            try:
                amount_fen = parse_typed(entry_text.get(), self.max_fen)
            except AmountError as exc:
                message.set(str(exc))
                entry.select_range(0, tk.END)   # typing again replaces the mistake
                entry.icursor(tk.END)
                return
            message.set("¥%s 请出示付款码" % format_fen(amount_fen))
            entry_text.set("")
            typed(amount_fen, format_fen(amount_fen))

        tk.Button(root, text="收款 OK", command=submit).pack(padx=12, pady=(4, 10))
        root.bind("<Return>", submit)
        root.bind("<KP_Enter>", submit)
        self.status = lambda text: root.after(0, message.set, text)
        root.protocol("WM_DELETE_WINDOW", root.iconify)      # closing only minimises: the till goes on
        try:
            root.mainloop()
        finally:
            self.status = None
            self._root = None
            try:
                root.destroy()          # in this thread: Tk objects must die where they were made
            except tk.TclError:
                pass
            try:
                loop.call_soon_threadsafe(done.set)
            except RuntimeError:        # the agent's loop already ended
                pass

    def _quit_window(self):
        root = getattr(self, "_root", None)
        if root is not None:
            try:
                root.after(0, root.quit)
            except Exception:
                pass
