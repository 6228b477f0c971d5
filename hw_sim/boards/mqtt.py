"""micropython-lib's umqtt.simple for the virtual boards, unchanged, on CPython sockets.

umqtt.simple (the MQTT client `tools build` freezes into a device's image, core/announce.py) calls the
MicroPython stream methods `sock.read(n)` and `sock.write(buf, n)`, which CPython's sockets lack, and
reads a non-blocking socket that has nothing as `None`. `umqtt_client()` gives its MQTTClient a
`socket` module whose sockets behave so; nothing else of the client is replaced, so the virtual boards
speak to a real Mosquitto with the device's own MQTT code.

umqtt.simple is not in this repository: PyPI's micropython-umqtt.simple is an upip archive pip cannot
install, so `make setup` puts its umqtt/simple.py (sha256-checked) into the virtual environment. Its
release there imports `usocket`, `ustruct` and `ubinascii`, MicroPython's old names: for the import they
are CPython's socket, struct and binascii. Without the file `umqtt_client()` raises ImportError.
"""
import importlib
import socket as _socket
import sys


class MicroSocket:
    """A CPython socket with MicroPython's stream methods."""

    def __init__(self):
        self._sock = _socket.socket()

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def setblocking(self, flag):
        self._sock.setblocking(flag)

    def connect(self, address):
        self._sock.connect(address)

    def write(self, data, length=None):
        if isinstance(data, str):
            data = data.encode()            # MicroPython's streams write a str as UTF-8
        data = bytes(data if length is None else memoryview(data)[:length])
        self._sock.sendall(data)
        return len(data)

    def read(self, n):
        """n bytes (fewer only at the end of the stream, b"" once it ended); None when non-blocking
        and nothing has come, as MicroPython answers."""
        data = b""
        while len(data) < n:
            try:
                chunk = self._sock.recv(n - len(data))
            except BlockingIOError:
                if data:
                    self._sock.setblocking(True)    # the rest of a packet is on its way
                    continue
                return None
            if not chunk:
                break
            data += chunk
        return data

    def close(self):
        self._sock.close()


class _SocketModule:
    """What umqtt.simple uses of `socket`."""

    @staticmethod
    def socket():
        return MicroSocket()

    @staticmethod
    def getaddrinfo(host, port):
        return _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM)


def umqtt_client():
    """umqtt.simple's MQTTClient class, speaking through CPython sockets."""
    added = []
    for micro, name in (("usocket", "socket"), ("ustruct", "struct"), ("ubinascii", "binascii")):
        if micro not in sys.modules:        # only while umqtt.simple is imported: nothing else sees them
            sys.modules[micro] = importlib.import_module(name)
            added.append(micro)
    try:
        from umqtt import simple
    finally:
        for micro in added:
            del sys.modules[micro]
    simple.socket = _SocketModule
    return simple.MQTTClient
