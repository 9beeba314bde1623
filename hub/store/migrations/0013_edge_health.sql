-- What a box says about its machine and outbox in each heartbeat (issue 12), beside 0010's columns,
-- and the findings the hub raises about its boxes: one open finding per box and kind, cleared when
-- the cause is gone (a heartbeat again, a clock set right, an outbox that stopped evicting).
ALTER TABLE edge_boxes
    ADD COLUMN load_1m            double precision NOT NULL DEFAULT 0,  -- 1-minute load average
    ADD COLUMN memory_free_bytes  bigint NOT NULL DEFAULT 0,
    ADD COLUMN disk_free_bytes    bigint NOT NULL DEFAULT 0,  -- where the outbox lives
    ADD COLUMN outbox_bytes       bigint NOT NULL DEFAULT 0,
    ADD COLUMN outbox_limit_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN outbox_evicted     integer NOT NULL DEFAULT 0,  -- evidence files evicted since the box started
    ADD COLUMN config_refused     text NOT NULL DEFAULT '';  -- why the box refused the hub's newest config

CREATE TABLE edge_findings (
    id          bigserial PRIMARY KEY,
    box         text NOT NULL,
    site        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('edge_offline', 'clock_skew', 'outbox_evicting', 'config_refused')),
    raised_at   timestamptz NOT NULL,  -- the hub's clock
    cleared_at  timestamptz,
    detail      text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX edge_findings_open ON edge_findings (box, kind) WHERE cleared_at IS NULL;
CREATE INDEX edge_findings_site ON edge_findings (site, raised_at DESC);
