"""MQTT messages -> readings -> rule hits (paho-mqtt; TimescaleDB writer). Arrives with the IoT issue."""
