FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FIELDSYNC_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY sync ./sync
COPY photo_store ./photo_store
COPY field_schemas ./field_schemas
RUN pip install --no-cache-dir . && useradd --system --uid 10001 fieldsync \
    && mkdir -p /data && chown fieldsync /data
USER fieldsync
VOLUME ["/data"]
EXPOSE 8000
# `serve` applies pending migrations before it accepts requests.
CMD ["fieldsync", "serve", "--host", "0.0.0.0", "--port", "8000"]
