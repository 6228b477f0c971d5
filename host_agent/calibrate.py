"""`calibrate`: find the POS screen's total field once, so the agent only ever reads that region.

With a display and tkinter, a window shows the grabbed screen: drag a box round the total, the
window's title shows what the agent reads there, Enter keeps the region (Esc cancels). Without one (a remote session, or to script it), give the region on
the command line (`--region left,top,width,height`) and, optionally, a saved screenshot (`--image`).
Either way the result is the `[screen] region` line for the config, and what the agent reads there.

The region is in desktop (virtual-screen) coordinates, as the agent grabs it with mss: the primary
monitor's top-left is (0, 0) and a monitor left of it has negative x. The picture calibrate shows is
one grabbed monitor (or all of them), so a place in it is that monitor's left/top plus the place in
the picture (`desktop_region`); a region typed with --region is in desktop coordinates too. A saved
screenshot (--image) has no monitor: its pixels are the region's.
"""
import logging

from host_agent.ocr import AmountReader

log = logging.getLogger(__name__)


SCREENSHOT = {"left": 0, "top": 0}     # where a saved screenshot's pixels start


def parse_region(text):
    try:
        values = [int(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise ValueError("a region is left,top,width,height in pixels, e.g. 620,540,360,48 "
                         "(left is negative on a monitor left of the main one)")
    return tuple(values)


def desktop_region(region, monitor):
    """A region of the picture grabbed from `monitor` (an entry of mss's `monitors` list, e.g.
    {"left": -1920, "top": 0, "width": 1920, "height": 1080}; [0] is all monitors together) in
    desktop coordinates, as the agent grabs it."""
    left, top, width, height = region
    return (monitor["left"] + left, monitor["top"] + top, width, height)


def image_region(region, monitor):
    """A desktop region as a region of the picture grabbed from `monitor` (desktop_region undone)."""
    left, top, width, height = region
    return (left - monitor["left"], top - monitor["top"], width, height)


def check_region(image, region, reader=None):
    """What the agent reads in `region` of `image` (a PIL screenshot): the ocr.Reading."""
    left, top, width, height = region
    if left < 0 or top < 0 or left + width > image.width or top + height > image.height:
        raise ValueError("the region does not fit on the %dx%d picture grabbed (desktop coordinates: "
                         "a monitor left of the main one has negative x)" % (image.width, image.height))
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
