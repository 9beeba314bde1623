-- The last heartbeat of each edge box (one row per box, named by its edge token): what it runs, how
-- much waits in its outbox, its cameras, its own clock beside the hub's. Camera status changes it
-- reports also go to device_health, through that table's one writer.
CREATE TABLE edge_boxes (
    box             text PRIMARY KEY,  -- the edge token's name
    site            text NOT NULL,
    seen_at         timestamptz NOT NULL,  -- the hub's clock when the heartbeat arrived
    box_time        timestamptz NOT NULL,  -- the box's clock when it sent it
    software        text NOT NULL,
    config_version  text NOT NULL,
    outbox_depth    integer NOT NULL,
    outbox_age_s    double precision NOT NULL,
    cameras         jsonb NOT NULL DEFAULT '{}'  -- camera id -> status
);
CREATE INDEX edge_boxes_site ON edge_boxes (site);
