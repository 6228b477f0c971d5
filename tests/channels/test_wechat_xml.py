"""WeChat's flat XML: escaping on the way out, no DOCTYPE/entities and no nesting on the way in."""
import pytest

from server.channels.wechat.xmlcodec import XmlError, from_xml, to_xml


def test_round_trip_with_characters_that_need_escaping():
    params = {"body": "茶 & <cake> \"x\" 'y' ]]>", "total_fee": "1250"}
    assert from_xml(to_xml(params)) == params
    assert b"<cake>" not in to_xml(params)


def test_cdata_answers_are_read():
    answer = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><empty></empty></xml>"
    assert from_xml(answer) == {"return_code": "SUCCESS", "empty": ""}


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "boom">]><xml><a>&e;</a></xml>',
    b'<!doctype xml SYSTEM "file:///etc/passwd"><xml><a>1</a></xml>',
    b'<xml><a>1</a>',
    b'<html><a>1</a></html>',
    b'<xml><a><b>1</b></a></xml>',
    b'<xml><a>1</a><a>2</a></xml>',
    b'',
    b'not xml',
])
def test_refused(body):
    with pytest.raises(XmlError):
        from_xml(body)


def test_bad_element_names_are_not_written():
    with pytest.raises(XmlError):
        to_xml({"a><b": "1"})
