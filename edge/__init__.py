"""A site's box: the hub's analysis on the site's cameras, findings shipped to the hub through a
durable outbox (`hub.spool.DurableSink`) in front of an HTTP uplink."""
