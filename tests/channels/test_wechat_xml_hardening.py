"""WeChat XML from outside (notifications, channel answers) is parsed without DTDs or entities whatever its
encoding (issue 18, finding 5): a check of the raw bytes for "<!DOCTYPE" missed UTF-16, where every
character is two bytes, and 988 bytes expanded to 5,000,000 characters. Through POST /n/wechat:
tests/server/test_input_refusals.py."""
import pytest

from server.channels.wechat.xmlcodec import XmlError, from_xml


def nested_entities(depth: int = 5) -> str:
    """A DOCTYPE whose entity a<depth> expands to 50 * 10**depth characters."""
    entities = '<!ENTITY a0 "' + "x" * 50 + '">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, depth + 1))
    return f"<!DOCTYPE xml [{entities}]>"


def document(codec: str, prolog: str, value: str) -> bytes:
    """The XML declaration names the encoding family; the bytes are `codec`'s (UTF-16 with or without BOM,
    either byte order: expat tells them apart by the first bytes)."""
    declared = "UTF-16" if codec.startswith("utf-16") else codec
    return (f'<?xml version="1.0" encoding="{declared}"?>{prolog}'
            f"<xml><return_code>SUCCESS</return_code><attach>{value}</attach></xml>").encode(codec)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-8", "iso-8859-1"])
def test_nested_entities_are_refused_unexpanded_in_any_encoding(codec):
    body = document(codec, nested_entities(), "&a5;")
    assert len(body) < 1100
    with pytest.raises(XmlError, match="DTD"):
        from_xml(body)


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE xml SYSTEM "file:///etc/passwd">',                 # an external DTD
    '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>',   # XXE
    "<!DOCTYPE xml>",                                             # any DTD at all
])
def test_any_doctype_is_refused_in_utf16(prolog):
    with pytest.raises(XmlError, match="DTD"):
        from_xml(document("utf-16", prolog, "1"))


def test_a_utf16_document_without_a_dtd_is_read():
    assert from_xml(document("utf-16", "", "茶")) == {"return_code": "SUCCESS", "attach": "茶"}


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0" encoding="bogus"?><xml><a>1</a></xml>',    # LookupError before: an unknown encoding
    b'<?xml version="1.0" encoding="UTF-7"?><xml><a>1</a></xml>',    # ValueError before: expat cannot read it
    b"<xml><a>&#0;</a></xml>",
])
def test_encodings_and_characters_the_parser_cannot_take_are_xml_errors(body):
    with pytest.raises(XmlError):
        from_xml(body)
