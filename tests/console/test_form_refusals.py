"""Console forms that cannot be read as text (an unknown or wrong charset, a broken multipart body, a field
name that is not valid Unicode) are refused with a 400 page, before any handler runs, and change nothing;
over real HTTP, logged in as an operator."""
from __future__ import annotations


import pytest

from tests.console.console_stack import OPERATOR, TEA_SHOP, http_session, running_stack
from server.keys import STORAGE



@pytest.fixture
async def stack(tmp_path):
    async with running_stack(tmp_path, pay_orders=False, resolver=False, throttle={"enabled": False}) as stack:
        yield stack


async def logged_in(stack) -> dict[str, str]:
    """Log in as the operator: the headers of a request in that session (its cookie and CSRF token)."""
    return await http_session(stack, OPERATOR)


BROKEN_FORMS = [
    ("application/x-www-form-urlencoded; charset=nonexistent", b"csrf_token=x&note=a"),
    ("application/x-www-form-urlencoded; charset=utf-16", b"csrf_token=x&note=\xff"),
    ("multipart/form-data", b"--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--B--\r\n"),
    ("multipart/form-data; boundary=B",
     b"--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\na\xed\xb2\x80z\r\n--B--\r\n"),
    ("multipart/form-data; boundary=B",
     b"--B\r\nContent-Disposition: form-data; name=\"confirmed\"\r\n\r\nno\r\n"
     b"--B\r\nContent-Disposition: form-data; name=\"\xed\xa0\x80\"\r\n\r\nx\r\n--B--\r\n"),
]


@pytest.mark.parametrize("content_type, body", BROKEN_FORMS,
                         ids=["unknown-charset", "utf16", "no-boundary", "bad-utf8-value", "bad-utf8-name"])
@pytest.mark.parametrize("path", ["/console/devices/{device}/return", "/console/devices/{device}/inspections",
                                  "/console/logout", "/console/reports/run"])
async def test_an_unreadable_form_is_a_400_page_and_changes_nothing(stack, content_type, body, path):
    session = await logged_in(stack)
    before = await stack.app[STORAGE].table_counts(["device_events", "device_inspections", "console_sessions"])
    async with stack.http.post(stack.url + path.format(device=TEA_SHOP.device_id), data=body,
                               headers={"Content-Type": content_type, **session},
                               allow_redirects=False) as resp:
        assert resp.status == 400, await resp.text()
        assert "text/html" in resp.headers["Content-Type"]
    assert await stack.app[STORAGE].table_counts(["device_events", "device_inspections", "console_sessions"]) == before
    async with stack.http.get(stack.url + "/console/devices", headers=session) as resp:
        assert resp.status == 200                 # still logged in: the refused logout ended nothing
