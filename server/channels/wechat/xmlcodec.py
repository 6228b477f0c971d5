"""WeChat's flat XML: <xml><key>value</key>...</xml>, both ways.

Writing escapes every value; reading refuses DOCTYPE and entity declarations (no XXE, no entity
expansion) and anything that is not one flat level of elements.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from xml.sax.saxutils import escape

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class XmlError(ValueError):
    """Not a WeChat XML message."""


def to_xml(params: Mapping[str, str]) -> bytes:
    parts = ["<xml>"]
    for key, value in params.items():
        if not _KEY.match(key):
            raise XmlError(f"bad element name {key!r}")
        parts.append(f"<{key}>{escape(str(value))}</{key}>")
    parts.append("</xml>")
    return "".join(parts).encode("utf-8")


def from_xml(body: bytes) -> dict[str, str]:
    if _FORBIDDEN.search(body):
        raise XmlError("DOCTYPE and ENTITY declarations are refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise XmlError(f"not well-formed XML: {e}") from None
    if root.tag != "xml":
        raise XmlError(f"root element is <{root.tag}>, not <xml>")
    params: dict[str, str] = {}
    for child in root:
        if len(child):
            raise XmlError(f"<{child.tag}> is not a flat value")
        if child.tag in params:
            raise XmlError(f"<{child.tag}> appears twice")
        params[child.tag] = child.text or ""
    return params
