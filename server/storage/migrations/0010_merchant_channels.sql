-- Each merchant's own identity at each payment channel (issue 12): under the acquirer's service-provider
-- account, WeChat's sub_mch_id (and sub_appid), Alipay's smid, UnionPay's merId. server/merchant_channels.py
-- says when a merchant is open at a channel.
CREATE TABLE merchant_channels (
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    channel      TEXT NOT NULL,                 -- wechat, alipay, unionpay
    account_id   TEXT NOT NULL DEFAULT '',      -- the sub-merchant id at the channel; '' in direct mode
    app_id       TEXT,                          -- WeChat sub_appid, when the shop has its own
    status       TEXT NOT NULL,                 -- open, closed
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,                 -- console user, "cli" or "ops-api"
    PRIMARY KEY (merchant_id, channel)
);

-- One sub-merchant account belongs to one merchant.
CREATE UNIQUE INDEX merchant_channels_by_account ON merchant_channels (channel, account_id) WHERE account_id <> '';

-- The sub-merchant account an order was taken under (NULL: the acquirer's own, direct mode): every later
-- call on the order (query, reverse, close, refund) names the same one, even if the merchant's changes.
ALTER TABLE orders ADD COLUMN channel_account TEXT;
