-- Each camera's latest analysed frame for the dashboard's camera wall: one row per camera,
-- replaced every vision.frame_every seconds by the analysis (the hub's, or an edge box's through
-- POST /edge/frames). A small JPEG with the boxes, zones and lines drawn.
CREATE TABLE camera_frames (
    camera text PRIMARY KEY,
    time timestamptz NOT NULL,
    jpeg bytea NOT NULL,
    width integer NOT NULL CHECK (width > 0),
    height integer NOT NULL CHECK (height > 0)
);
