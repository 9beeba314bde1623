"""The hub: config, records, the event -> alert -> record pipeline, and the store."""
