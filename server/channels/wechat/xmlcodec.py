"""WeChat's flat XML: <xml><key>value</key>...</xml>, both ways.

Writing escapes every value; reading refuses anything that is not one flat level of elements, and any
DTD, entity declaration or external reference (no XXE, no entity expansion). The parser refuses them as
it meets them (defusedxml), so the document's encoding does not matter: a check of the raw bytes missed a
UTF-16 DOCTYPE whose 922 bytes expanded to 5,000,000 characters (issue 18).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


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
    try:
        root = defusedxml.ElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True,
                                                 forbid_external=True)
    except defusedxml.DefusedXmlException as e:
        raise XmlError(f"DTD, entities and external references are refused ({type(e).__name__})") from None
    except (ET.ParseError, LookupError, ValueError) as e:
        # LookupError, ValueError: the declared encoding is unknown to Python, or one expat cannot read
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
