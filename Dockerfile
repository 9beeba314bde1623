# offsite hub image (API-only hosts: no vision stack). Build: docker build -t offsite .
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY hub hub
COPY ingest ingest
COPY vision vision
COPY iot iot
COPY api api
COPY configs configs
RUN pip install --no-cache-dir . && useradd --system --home /app offsite
USER offsite
ENV OFFSITE_ENV=production
ENTRYPOINT ["offsite"]
CMD ["up", "--config", "/app/configs/demo.yaml"]
