"""The standalone sandboxes (`python -m hw_sim.sandbox[.alipay|.unionpay]`) are told which sub-merchants they
know by a JSON file shared by all three, or by --sub-merchant flags; a bad file stops them with a message."""
import json

import pytest

from hw_sim.sandbox import alipay, common, wechat
from hw_sim.sandbox.common import sub_merchants_from


@pytest.fixture
def shops_file(tmp_path):
    path = tmp_path / "shops.json"
    path.write_text(json.dumps({"wechat": [{"account_id": "1900000109", "app_id": "wx0123456789abcdef"},
                                           {"account_id": "1900000110"}],
                                "alipay": ["2088000000000001"], "unionpay": [{"account_id": "898310000000001"}]}))
    return str(path)


def test_each_sandbox_takes_its_own_list_from_the_shared_file_and_the_flags(shops_file, tmp_path):
    assert sub_merchants_from("wechat", shops_file, ["1900000111:wx00000000000000aa"]) == [
        ("1900000109", "wx0123456789abcdef"), ("1900000110", None), ("1900000111", "wx00000000000000aa")]
    assert sub_merchants_from("alipay", shops_file) == [("2088000000000001", None)]
    plain = tmp_path / "list.json"
    plain.write_text(json.dumps([{"account_id": "898310000000002"}]))
    assert sub_merchants_from("unionpay", str(plain)) == [("898310000000002", None)]
    assert sub_merchants_from("unionpay") == []
    for document in ({"wechat": {"account_id": "1"}}, {"wechat": [{"app_id": "wx"}]}):
        plain.write_text(json.dumps(document))
        with pytest.raises(ValueError):
            sub_merchants_from("wechat", str(plain))
    with pytest.raises(ValueError):
        sub_merchants_from("wechat", flags=[":wx0123456789abcdef"])


def test_the_standalone_sandbox_knows_them(shops_file, monkeypatch):
    made = []

    class Recorded(wechat.WeChatSandbox):
        def __init__(self, **options):
            super().__init__(**options)
            made.append(self)

    monkeypatch.setattr(wechat, "WeChatSandbox", Recorded)
    monkeypatch.setattr(common.asyncio, "run", lambda coroutine: coroutine.close())    # do not serve
    wechat.main(["--sub-merchants", shops_file, "--sub-merchant", "1900000120"])
    [sandbox] = made
    assert sandbox.sub_merchants.get("1900000109").app_ids == {"wx0123456789abcdef"}
    assert "1900000110" in sandbox.sub_merchants and "1900000120" in sandbox.sub_merchants
    assert "2088000000000001" not in sandbox.sub_merchants                  # Alipay's list is Alipay's


def test_a_missing_file_stops_the_sandbox(capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        alipay.main(["--sub-merchants", str(tmp_path / "none.json")])
    assert stopped.value.code == 1 and "none.json" in capsys.readouterr().err
