-- The events a site's boxes delivered lately, by when the hub received them: GET /edge/lag reads
-- the delivery lag (received_at - time) of a window without scanning every event.
CREATE INDEX events_site_received ON events (site, received_at);
