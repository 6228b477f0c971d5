-- Alerts in the reader's language (server/alerts.py): each alert's words in Chinese beside the English ones,
-- with the same latest figures; the console shows the one of the page's language. Alerts raised before
-- this migration have none and are shown in English.
ALTER TABLE alerts ADD COLUMN message_zh TEXT NOT NULL DEFAULT '';
