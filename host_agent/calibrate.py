"""`calibrate`: find the POS screen's total field once, so the agent only ever reads that region.

With a display and tkinter, a window shows the grabbed screen: drag a box round the total, the
window's title shows what the agent reads there, Enter keeps the region (Esc cancels). Without one (a remote session, or to script it), give the region on
the command line (`--region left,top,width,height`) and, optionally, a saved screenshot (`--image`).
Either way the result is the `[screen] region` line for the config, and what the agent reads there.
"""
import logging

from host_agent.ocr import AmountReader

log = logging.getLogger(__name__)


def parse_region(text):
    try:
        values = [int(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0 or min(values[:2]) < 0:
        raise ValueError("a region is left,top,width,height in pixels, e.g. 620,540,360,48")
    return tuple(values)


def check_region(image, region, reader=None):
    """What the agent reads in `region` of `image` (a PIL screenshot): the ocr.Reading."""
    left, top, width, height = region
    if left + width > image.width or top + height > image.height:
        raise ValueError("the region %s does not fit on the %dx%d screen" % (region, image.width, image.height))
    reader = reader or AmountReader()
    return reader.read(image.crop((left, top, left + width, top + height)))


def config_line(region):
    return "region = [%d, %d, %d, %d]" % tuple(region)


def choose_region(image):
    """Let the installer drag a box on the screenshot (tkinter); the region, or None if cancelled."""
    import tkinter as tk

    from PIL import ImageTk

    root = tk.Tk()
    root.title("scanpay: drag a box round the POS total, then press Enter (Esc: cancel)")
    scale = min(1.0, (root.winfo_screenwidth() - 40) / image.width, (root.winfo_screenheight() - 80) / image.height)
    shown = image.resize((int(image.width * scale), int(image.height * scale))) if scale < 1 else image
    photo = ImageTk.PhotoImage(shown)
    canvas = tk.Canvas(root, width=shown.width, height=shown.height, cursor="crosshair")
    canvas.pack()
    canvas.create_image(0, 0, image=photo, anchor="nw")
    box = {"start": None, "rect": None, "region": None}

    def press(event):
        box["start"] = (event.x, event.y)
        if box["rect"]:
            canvas.delete(box["rect"])
        box["rect"] = canvas.create_rectangle(event.x, event.y, event.x, event.y, outline="red", width=2)

    def drag(event):
        x0, y0 = box["start"]
        canvas.coords(box["rect"], x0, y0, event.x, event.y)

    def release(event):
        x0, y0 = box["start"]
        x1, y1 = event.x, event.y
        left, top = min(x0, x1) / scale, min(y0, y1) / scale
        width, height = abs(x1 - x0) / scale, abs(y1 - y0) / scale
        if width >= 8 and height >= 8:
            box["region"] = (int(left), int(top), int(width), int(height))
            reading = check_region(image, box["region"])
            shown = "%d.%02d" % divmod(reading.amount_fen, 100) if reading.amount_fen else "no amount"
            root.title("reads %r: %s   (Enter: keep this region, or drag again)" % (reading.text, shown))

    def cancel(_event=None):
        box["region"] = None
        root.destroy()

    canvas.bind("<ButtonPress-1>", press)
    canvas.bind("<B1-Motion>", drag)
    canvas.bind("<ButtonRelease-1>", release)
    root.bind("<Return>", lambda _event: root.destroy())
    root.bind("<Escape>", cancel)
    root.protocol("WM_DELETE_WINDOW", root.destroy)     # closing the window keeps the region too
    root.mainloop()
    return box["region"]
