"""The HTTP API: REST for alerts, clues, records, evidence and events; a live stream; auth."""
