"""TTS voice modules behind a virtual UART: SYN6288 and XFS5152CE (shared/reference/hardware.md §1).

Each simulator decodes the frames the firmware writes back into the text the module would say,
answers as the chip does, and keeps what was said in `.spoken` so tests can assert on the
announcement ("微信收款 12.50 元"). Speech takes `len(text) * seconds_per_char` of simulated time,
during which a status query answers busy. `speak_to_wav` lets a developer hear it with espeak-ng.

Frame parsing is pure (`parse_syn6288_frames`, `parse_xfs5152_frames`); the classes do the I/O.
"""
import asyncio
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

FRAME_HEAD = 0xFD

CMD_SYNTH = 0x01
CMD_STOP = 0x02
CMD_PAUSE = 0x03
CMD_RESUME = 0x04
CMD_STATUS = 0x21
CMD_SET_BAUD = 0x31         # SYN6288 only: param 0/1/2 = 9600/19200/38400
CMD_POWER_DOWN = 0x88
CMD_WAKE_UP = 0xFF          # XFS5152 only

REPLY_RECEIVED = 0x41
REPLY_BAD_FRAME = 0x45      # XFS5152 only
REPLY_INIT_OK = 0x4A        # XFS5152 only, after power-up
REPLY_BUSY = 0x4E
REPLY_IDLE = 0x4F

# Encoding codes: SYN6288 in the low 3 bits of the synth param, XFS5152 the whole Enc byte.
# The "Unicode" code 3 means UTF-16 big-endian on the SYN6288 and little-endian on the XFS5152.
SYN6288_ENCODINGS = {0: "gb2312", 1: "gbk", 2: "big5", 3: "utf-16-be"}
XFS5152_ENCODINGS = {0: "gb2312", 1: "gbk", 2: "big5", 3: "utf-16-le"}
SYN6288_ENCODING_MASK = 0x07

# Longest text a frame may carry: the limits bound how long a parser waits on a false FD in noise.
SYN6288_MAX_TEXT = 200
XFS5152_MAX_TEXT = 4000
SYN6288_BAUDS = {0: 9600, 1: 19200, 2: 38400}

# Inline control tags such as [v5] volume, [m3] background, [t3] speed, [d] defaults: spoken text
# never contains them.
_TAG = re.compile(r"\[[a-zA-Z]\d*\]")


class EspeakMissing(RuntimeError):
    pass


# --- frames (pure) ----------------------------------------------------------------------------
@dataclass(frozen=True)
class VoiceFrame:
    command: int
    data: bytes         # bytes between the command and the checksum (SYN6288) / frame end (XFS5152)
    ok: bool            # checksum (SYN6288) or encoding (XFS5152) acceptable
    raw: bytes


def xor_checksum(data):
    value = 0
    for byte in data:
        value ^= byte
    return value


def syn6288_frame(command, data=b""):
    body = bytes([FRAME_HEAD]) + (len(data) + 2).to_bytes(2, "big") + bytes([command]) + bytes(data)
    return body + bytes([xor_checksum(body)])


def syn6288_synth_frame(text, encoding_code=3):
    """A SYN6288 synth frame for `text` (default Unicode, the one encoding MicroPython can make)."""
    payload = text.encode(SYN6288_ENCODINGS[encoding_code])
    return syn6288_frame(CMD_SYNTH, bytes([encoding_code]) + payload)


def xfs5152_frame(command, data=b""):
    return bytes([FRAME_HEAD]) + (len(data) + 1).to_bytes(2, "big") + bytes([command]) + bytes(data)


def xfs5152_synth_frame(text, encoding_code=3):
    payload = text.encode(XFS5152_ENCODINGS[encoding_code])
    return xfs5152_frame(CMD_SYNTH, bytes([encoding_code]) + payload)


_SHORT = object()    # take_frame's answer for "a frame starts here, the rest has not arrived yet"


def _split_frames(buffer, take_frame):
    """Shared resync loop. `take_frame(buffer, i)` answers for the FD at i:
    None: no frame starts here (skip the byte); _SHORT: a frame starts here but has not fully arrived;
    (frame, end): a complete frame.

    After a rejected frame the scan resumes one byte after its FD, so a false FD in noise costs at
    most a wait for its claimed length, never the real frame behind it. Nothing looks ahead past an
    unfinished frame: its own payload may hold bytes that look like a frame.
    """
    buffer = bytes(buffer)
    frames = []
    i = 0
    while True:
        i = buffer.find(FRAME_HEAD, i)
        if i < 0:
            return frames, b""
        found = take_frame(buffer, i)
        if found is None:
            i += 1
        elif found is _SHORT:
            return frames, buffer[i:]
        else:
            frame, end = found
            frames.append(frame)
            i = end if frame.ok else i + 1


# What each SYN6288 command's length field must say (synth: text length + 3, checked separately).
_SYN6288_FIXED_LENGTHS = {CMD_STOP: 2, CMD_PAUSE: 2, CMD_RESUME: 2, CMD_STATUS: 2, CMD_POWER_DOWN: 2,
                          CMD_SET_BAUD: 3}
_XFS5152_FIXED_LENGTHS = {CMD_STOP: 1, CMD_PAUSE: 1, CMD_RESUME: 1, CMD_STATUS: 1, CMD_POWER_DOWN: 1,
                          CMD_WAKE_UP: 1}


def _take_syn6288(buffer, i):
    if len(buffer) - i < 4:
        return _SHORT
    length = int.from_bytes(buffer[i + 1:i + 3], "big")
    command = buffer[i + 3]
    # The header must make sense before we wait for a body: that is how noise is told from frames.
    if command == CMD_SYNTH:
        if not 4 <= length <= SYN6288_MAX_TEXT + 3:
            return None
    elif _SYN6288_FIXED_LENGTHS.get(command) != length:
        return None
    end = i + 3 + length
    if len(buffer) < end:
        return _SHORT
    raw = buffer[i:end]
    ok = xor_checksum(raw[:-1]) == raw[-1]
    return VoiceFrame(command, raw[4:-1], ok, raw), end


def _take_xfs5152(buffer, i):
    if len(buffer) - i < 4:
        return _SHORT
    length = int.from_bytes(buffer[i + 1:i + 3], "big")
    command = buffer[i + 3]
    # No checksum on this chip: a known command with a sane length is all that tells a frame from noise.
    if command == CMD_SYNTH:
        if not 3 <= length <= XFS5152_MAX_TEXT + 2:
            return None
    elif _XFS5152_FIXED_LENGTHS.get(command) != length:
        return None
    end = i + 3 + length
    if len(buffer) < end:
        return _SHORT
    raw = buffer[i:end]
    data = raw[4:]
    ok = command != CMD_SYNTH or data[0] in XFS5152_ENCODINGS
    return VoiceFrame(command, data, ok, raw), end


def parse_syn6288_frames(buffer):
    """(frames, rest): complete frames in `buffer` (bad checksums with ok=False) and the unfinished tail."""
    return _split_frames(buffer, _take_syn6288)


def parse_xfs5152_frames(buffer):
    return _split_frames(buffer, _take_xfs5152)


def strip_tags(text):
    return _TAG.sub("", text)


def decode_text(payload, codec):
    """Spoken text of a synth payload: decoded, control tags removed."""
    return strip_tags(payload.decode(codec, errors="replace"))


def syn6288_text(frame):
    """Text of a SYN6288 synth frame (encoding in the param's low 3 bits; the other bits are music)."""
    codec = SYN6288_ENCODINGS.get(frame.data[0] & SYN6288_ENCODING_MASK)
    if codec is None:
        return None
    return decode_text(frame.data[1:], codec)


def xfs5152_text(frame):
    return decode_text(frame.data[1:], XFS5152_ENCODINGS[frame.data[0]])


# --- hearing it -------------------------------------------------------------------------------
def speak_to_wav(text, path, *, voice="cmn"):
    """Say `text` into a WAV file with espeak-ng (Mandarin voice by default)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissing("espeak-ng is not installed (apt-get install espeak-ng); cannot write %s" % path)
    subprocess.run([exe, "-v", voice, "-w", str(path), "--", text],
                   check=True, capture_output=True, timeout=60)
    return path


def _matcher(match):
    if callable(match):
        return match
    return lambda text: match in text


# --- the modules ------------------------------------------------------------------------------
class _TtsModule:
    """What both chips share: byte intake, the speech clock, records and waiting for speech."""

    def __init__(self, uart_end, *, seconds_per_char=0.0, clock=time.monotonic):
        self._uart = uart_end
        self._clock = clock
        self.seconds_per_char = seconds_per_char
        self._lock = threading.RLock()      # firmware writes may come from another thread
        self._rx = b""
        self.frames = []            # every valid frame, in order
        self.rejected = []          # frames refused (bad checksum / bad encoding), for diagnostics
        self.spoken = []            # texts said, tags stripped
        self.on_speech = []         # callbacks(text), called as speech starts
        self.powered_down = False
        self._speech_ends = 0.0     # clock time the current speech ends
        self._paused_left = None    # seconds of speech left while paused
        uart_end.subscribe(self._on_bytes)

    # Paused speech still counts as busy: the chip holds text it has not finished, and a firmware
    # that waits for idle before the next announcement must not talk over it (unverified on silicon).
    @property
    def busy(self):
        return self._paused_left is not None or self._clock() < self._speech_ends

    def _on_bytes(self, data):
        with self._lock:
            frames, self._rx = self.parse_frames(self._rx + bytes(data))
            said = []
            for frame in frames:
                text = self._handle(frame)
                if text is not None:
                    said.append(text)
        for text in said:       # outside the lock: a callback may do anything
            for callback in list(self.on_speech):
                callback(text)

    def _reply(self, *codes):
        self._uart.write(bytes(codes))

    def _speak(self, text):
        # A new synth frame replaces whatever is being said, as both chips do.
        self.powered_down = False
        self._paused_left = None
        self._speech_ends = self._clock() + len(text) * self.seconds_per_char
        self.spoken.append(text)

    def _control(self, command):
        """Handle stop/pause/resume/power-down; True if `command` was one of them."""
        now = self._clock()
        if command == CMD_STOP:
            self._speech_ends, self._paused_left = now, None
        elif command == CMD_PAUSE:
            if self._paused_left is None and now < self._speech_ends:
                self._paused_left = self._speech_ends - now
        elif command == CMD_RESUME:
            if self._paused_left is not None:
                self._speech_ends, self._paused_left = now + self._paused_left, None
        elif command == CMD_POWER_DOWN:
            self._speech_ends, self._paused_left = now, None
            self.powered_down = True
        elif command == CMD_WAKE_UP:
            self.powered_down = False
        else:
            return False
        return True

    async def wait_spoken(self, match, timeout=5.0, *, start=0):
        """The first text in `spoken[start:]` matching `match` (substring or predicate), waiting for it."""
        matches = _matcher(match)
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake(_text):
            loop.call_soon_threadsafe(woken.set)

        self.on_speech.append(wake)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    woken.clear()   # clear before looking, so speech arriving meanwhile still wakes us
                    for text in self.spoken[start:]:
                        if matches(text):
                            return text
                    await woken.wait()
        except TimeoutError:
            raise TimeoutError("nothing matching %r spoken within %ss; spoken: %r"
                               % (match, timeout, self.spoken[start:])) from None
        finally:
            self.on_speech.remove(wake)

    def speak_to_wav(self, text, path, *, voice="cmn"):
        return speak_to_wav(text, path, voice=voice)


class SYN6288(_TtsModule):
    """SYN6288: checksummed frames; 41 after every valid frame, 41 4E/4F to a status query."""

    parse_frames = staticmethod(parse_syn6288_frames)

    def __init__(self, uart_end, *, seconds_per_char=0.0, clock=time.monotonic):
        super().__init__(uart_end, seconds_per_char=seconds_per_char, clock=clock)
        self.baudrate = 9600

    def _handle(self, frame):
        if not frame.ok:
            self.rejected.append(frame)     # a bad checksum gets no answer at all
            return None
        self.frames.append(frame)
        text = None
        if frame.command == CMD_SYNTH and frame.data:
            text = syn6288_text(frame)
        if frame.command == CMD_STATUS:
            self._reply(REPLY_RECEIVED, REPLY_BUSY if self.busy else REPLY_IDLE)
            return None
        self._reply(REPLY_RECEIVED)
        if text is not None:
            self._speak(text)
        elif frame.command == CMD_SET_BAUD and frame.data:
            self.baudrate = SYN6288_BAUDS.get(frame.data[0], self.baudrate)
        else:
            self._control(frame.command)
        return text


class XFS5152(_TtsModule):
    """XFS5152CE: frames without checksum; 41 received, 45 bad frame, 4E/4F status, 4A after power-up."""

    parse_frames = staticmethod(parse_xfs5152_frames)
    # Whether the status answer is preceded by 41 is unverified; firmware must accept both.
    ack_status_query = True

    def __init__(self, uart_end, *, seconds_per_char=0.0, clock=time.monotonic, announce_ready=False):
        super().__init__(uart_end, seconds_per_char=seconds_per_char, clock=clock)
        if announce_ready:
            self.power_on()

    def power_on(self):
        """The chip says 4A once it is up; a firmware driver sees it as a stray byte to skip."""
        self._reply(REPLY_INIT_OK)

    def _handle(self, frame):
        if not frame.ok:
            self.rejected.append(frame)
            self._reply(REPLY_BAD_FRAME)
            return None
        self.frames.append(frame)
        if frame.command == CMD_STATUS:
            state = REPLY_BUSY if self.busy else REPLY_IDLE
            self._reply(*((REPLY_RECEIVED, state) if self.ack_status_query else (state,)))
            return None
        self._reply(REPLY_RECEIVED)
        if frame.command == CMD_SYNTH:
            text = xfs5152_text(frame)
            self._speak(text)
            return text
        self._control(frame.command)
        return None
