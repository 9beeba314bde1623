-- Which site's edge box sent an evidence file: an edge box may cite only evidence it sent itself,
-- so a box cannot attach (or make its site's department read) another site's pictures by hash.
CREATE TABLE evidence_holders (
    sha256  text NOT NULL REFERENCES evidence (sha256),
    site    text NOT NULL,
    PRIMARY KEY (site, sha256)
);
