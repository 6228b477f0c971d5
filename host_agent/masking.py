"""Payment codes and keys never reach a log whole: all but the last 4 characters masked."""
import logging
import re

from core.codes import mask      # the firmware's own: the box and the agent log codes alike

__all__ = ["MaskingFilter", "mask", "mask_text"]

_LONG_DIGITS = re.compile(r"\d{10,32}")
_HEX_KEY = re.compile(r"\b[0-9a-fA-F]{32,}\b")


def mask_text(text):
    """Any run of 10-32 digits (a payment code) or long hex (a key) in free text, masked."""
    text = _HEX_KEY.sub(lambda m: mask(m.group(0)), text)
    return _LONG_DIGITS.sub(lambda m: mask(m.group(0)), text)


class MaskingFilter(logging.Filter):
    """Masks codes in every record, whatever module logged it (a last line of defence: the agent's
    own messages mask codes themselves)."""

    def filter(self, record):
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
