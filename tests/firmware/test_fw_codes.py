import pytest

from core import codes


@pytest.mark.parametrize("code, channel", [
    ("134567890123456789", "wechat"),
    ("100000000000000000", "wechat"),
    ("159999999999999999", "wechat"),
    ("2812345678901234", "alipay"),            # 16 digits
    ("281234567890123456789012", "alipay"),    # 24 digits
    ("251234567890123456", "alipay"),
    ("6212345678901234567", "unionpay"),
    (" 134567890123456789 ", "wechat"),        # whitespace from the scan engine is ignored
])
def test_known_codes_get_their_channel(code, channel):
    assert codes.check(code) == channel


@pytest.mark.parametrize("code, reason", [
    ("", codes.EMPTY),
    ("13456789012345678a", codes.NOT_DIGITS),
    ("https://qr.example/123", codes.NOT_DIGITS),
    ("１３４５６７８９０１２３４５６７８９", codes.NOT_DIGITS),    # full-width digits
    ("13456789012345678", codes.BAD_LENGTH),         # WeChat is 18 digits
    ("1345678901234567890", codes.BAD_LENGTH),
    ("281234567890123", codes.BAD_LENGTH),            # Alipay 16-24
    ("621234567890123456", codes.BAD_LENGTH),         # UnionPay 19
    ("901234567890123456", codes.UNKNOWN_PREFIX),
    ("161234567890123456", codes.UNKNOWN_PREFIX),
    ("1", codes.BAD_LENGTH),
])
def test_refusals_say_why(code, reason):
    with pytest.raises(codes.CodeRefused) as info:
        codes.check(code)
    assert info.value.reason == reason
    if len(code.strip()) > 4:
        assert code.strip() not in str(info.value)      # logs never hold a whole payment code


def test_prefix_table_is_data():
    table = codes.load_prefixes([["wechat", 10, 15, 18, 18], ["testpay", 99, 99, 12, 12]])
    assert codes.check("991234567890", table) == "testpay"
    with pytest.raises(codes.CodeRefused):
        codes.check("281234567890123456", table)    # Alipay not in this table


@pytest.mark.parametrize("row", [["wechat", 10, 15, 18], ["wechat", 15, 10, 18, 18], [1, 10, 15, 18, 18],
                                 ["x", 5, 9, 10, 10], ["x", 10, 10, 20, 10]])
def test_bad_prefix_rows_are_refused(row):
    with pytest.raises(ValueError):
        codes.load_prefixes([row])


def test_mask_keeps_last_four():
    assert codes.mask("134567890123456789") == "**************6789"
    assert codes.mask("123") == "***"


def test_a_known_wallet_the_shop_does_not_take_is_refused_as_not_taken():
    """`info` lists only the wallets the shop takes: an Alipay code at a WeChat-only shop is a wallet the
    shop does not take (its own message), not an unknown code."""
    table = codes.prefixes_from_info({"wallets": ["wechat", "unionpay"]})
    with pytest.raises(codes.CodeRefused) as refused:
        codes.check("281234567890123456", table)
    assert (refused.value.reason, refused.value.channel) == (codes.NOT_TAKEN, "alipay")
    with pytest.raises(codes.CodeRefused) as refused:
        codes.check("991234567890123456", table)     # no wallet's at all
    assert refused.value.reason == codes.UNKNOWN_PREFIX
    assert codes.check("134567890123456789", table) == "wechat"


def test_the_servers_code_prefixes_replace_the_built_in_table():
    info = {"wallets": ["wechat", "alipay"], "code_prefixes": {"wechat": ["13"], "unionpay": ["6210"]},
            "code_lengths": {"wechat": [18], "unionpay": [16]}}
    table = codes.prefixes_from_info(info)
    assert codes.check("134567890123456789", table) == "wechat"
    assert codes.check("6210123456789012", table) == "unionpay"      # a longer prefix, a length of its own
    with pytest.raises(codes.CodeRefused) as refused:
        codes.check("104567890123456789", table)   # WeChat's, but not a prefix this server routes here
    assert refused.value.reason == codes.UNKNOWN_PREFIX
    with pytest.raises(codes.CodeRefused) as refused:
        codes.check("281234567890123456", table)   # `wallets` names Alipay; the routing table does not
    assert (refused.value.reason, refused.value.channel) == (codes.NOT_TAKEN, "alipay")


def test_an_empty_or_broken_code_prefixes():
    nothing = codes.prefixes_from_info({"wallets": [], "code_prefixes": {}})
    with pytest.raises(codes.CodeRefused) as refused:
        codes.check("134567890123456789", nothing)      # the shop takes no wallet now
    assert (refused.value.reason, refused.value.channel) == (codes.NOT_TAKEN, "wechat")
    broken = codes.prefixes_from_info({"wallets": ["wechat"], "code_prefixes": {"wechat": ["1x"]}})
    assert broken == codes.prefixes_from_info({"wallets": ["wechat"]})   # an older server's way
    assert codes.prefixes_from_info({"code_prefixes": {"wechat": ["13"]}})[0][2] == (18,)   # known lengths
