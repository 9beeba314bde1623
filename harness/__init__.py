"""Real servers that the tests and the benchmarks run against: a PostgreSQL cluster with
TimescaleDB (pgcluster), Mosquitto (mosquitto), a GStreamer RTSP server (rtsp); and the IoT
deployment both feed (sensors). Not installed with offsite."""
