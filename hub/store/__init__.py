"""The store: PostgreSQL / TimescaleDB through a psycopg pool, migrations, time series."""
