-- A device's history starts afresh at each assignment (issue 18): the device API shows and acts on only
-- the orders a device made for its current merchant since it took its current store (assign or swap).
ALTER TABLE devices ADD COLUMN assigned_at BIGINT;

-- Devices that moved before this column existed: their last assignment, from their history.
UPDATE devices SET assigned_at = (
    SELECT MAX(e.at) FROM device_events e WHERE e.device_id = devices.id AND e.kind IN ('assigned', 'swapped_in'));

-- Orders from before orders.merchant_id existed belong to the merchant their device had then, which is
-- the one it has now unless it moved since (and then the assignment time above hides them anyway).
UPDATE orders SET merchant_id = (SELECT d.merchant_id FROM devices d WHERE d.id = orders.device_id)
    WHERE merchant_id IS NULL;
