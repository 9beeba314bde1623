-- Time-series tables. They become TimescaleDB hypertables where the extension is present;
-- the hub maintains the rollups itself so every backend gives the same answers.

CREATE TABLE readings (
    time    timestamptz NOT NULL,
    sensor  text NOT NULL,
    metric  text NOT NULL,
    value   double precision NOT NULL,
    PRIMARY KEY (sensor, metric, time)
);
CREATE INDEX readings_time ON readings (time DESC);

CREATE TABLE readings_1m (
    time    timestamptz NOT NULL,
    sensor  text NOT NULL,
    metric  text NOT NULL,
    count   integer NOT NULL,
    sum     double precision NOT NULL,
    min     double precision NOT NULL,
    max     double precision NOT NULL,
    PRIMARY KEY (sensor, metric, time)
);

CREATE TABLE readings_1h (LIKE readings_1m INCLUDING ALL);

CREATE TABLE detections (
    time        timestamptz NOT NULL,
    camera      text NOT NULL,
    label       text NOT NULL,
    confidence  real NOT NULL,
    box         real[] NOT NULL,
    track_id    bigint
);
CREATE INDEX detections_camera_time ON detections (camera, time DESC);

CREATE TABLE device_health (
    time    timestamptz NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('camera', 'sensor', 'edge')),
    device  text NOT NULL,
    status  text NOT NULL,
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX device_health_device_time ON device_health (kind, device, time DESC);
