# Runs on the native (unix) MicroPython port, started by mp_run.py:
#
#   micropython -X heapsize=<bytes> mp_native_boot.py <root> [<romfs image>]
#
# Makes the port look like the device and like the WebAssembly runner (mp_runner.mjs): <root> becomes
# the file system's "/" (the firmware in /lib, the input at /input.json, the journal where the script
# puts it), and the script at /script.py runs. Its top-level awaits were rewritten by mp_run.py into
# _await(lambda: ...), which runs them to completion on MicroPython's own asyncio.
#
# With a ROMFS image (the firmware compiled to .mpy, what the profile's manifest freezes) it is mounted
# at /rom and /rom/lib goes on sys.path right after .frozen: imports run the bytecode in place, as
# frozen modules do. The image itself has to sit in the heap on this port (on a board it is flash):
# "ROM <bytes>" tells the runner how much of the heap it took.
import gc
import os
import sys
import vfs

import asyncio

root = sys.argv[1]
image = None
if len(sys.argv) > 2:
    gc.collect()
    before = gc.mem_alloc()
    image = bytearray(os.stat(sys.argv[2])[6])
    with open(sys.argv[2], "rb") as f:
        f.readinto(image)
    gc.collect()
    print("ROM %d" % (gc.mem_alloc() - before))



class Root:
    """<root> as "/": a VfsPosix(root), except rename. This build's VfsPosix(root).rename() builds
    both paths in one buffer, so the old one comes out as the new one (ENOENT); relative paths are not
    rewritten, and os.chdir("/") below makes <root> the process's directory. (A subclass of VfsPosix
    would not do: imports would read the subclass instance as a native VfsPosix.)"""

    def __init__(self, path):
        self._fs = vfs.VfsPosix(path)
        for name in ("open", "ilistdir", "stat", "statvfs", "mkdir", "remove", "rmdir", "chdir",
                     "getcwd"):
            setattr(self, name, getattr(self._fs, name))

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def rename(self, old, new):
        self._fs.rename(old.lstrip("/"), new.lstrip("/"))


vfs.umount("/")
vfs.mount(Root(root), "/")
os.chdir("/")
if image is not None:
    vfs.mount(vfs.VfsRom(image), "/rom")
sys.path[:] = [".frozen"] + (["/rom/lib"] if image is not None else []) + ["/lib"]


class NoHttpBridge:
    """`scanpay_http`, the JavaScript HTTP bridge the WebAssembly runner registers. Natively the
    firmware picks core/http.py's HttpClient on real sockets, so only the statistics are asked."""

    @staticmethod
    def stats():
        return '{"port": "native"}'


sys.modules["scanpay_http"] = NoHttpBridge


def _await(make):
    """A top-level `await x`, rewritten _await(lambda: x): runs the loop until x is done."""
    async def one():
        return await make()
    return asyncio.run(one())


with open("/script.py") as f:
    code = compile(f.read(), "script.py", "exec")
gc.collect()
exec(code, {"__name__": "__main__", "_await": _await})
