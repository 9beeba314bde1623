-- The events received lately, by when the hub received them: GET /edge/lag and the
-- offsite_edge_delivery_lag_seconds histogram of /metrics read the delivery lag
-- (received_at - time) of a window without scanning every event.
CREATE INDEX events_received ON events (received_at);
