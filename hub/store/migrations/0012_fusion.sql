-- Fusion rules (hub/fusion.py): a fusion's state follows from its parts' events, looked up by rule
-- and event time; each fusion event names the part events it rests on, so that evidence made after
-- a part (a clip) reaches the fusion's alert, record and clue as well.
CREATE INDEX events_rule_time ON events (rule, time);

CREATE TABLE fusion_parts (
    fusion_event text NOT NULL REFERENCES events (id),
    part_event   text NOT NULL REFERENCES events (id),
    PRIMARY KEY (fusion_event, part_event)
);
CREATE INDEX fusion_parts_part ON fusion_parts (part_event);
