# One image for every subgraph; compose.yaml picks the subgraph with its command
# (or KINDRED_SUBGRAPH / KINDRED_PORT for the default command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from the lock file, so code changes reuse this layer.
COPY requirements-runtime.lock ./
RUN pip install -r requirements-runtime.lock

COPY pyproject.toml ./
COPY libs/ libs/
COPY subgraphs/ subgraphs/
RUN pip install --no-deps .

RUN useradd --system --uid 10001 --home-dir /var/lib/kindred --create-home kindred
USER kindred

ARG SUBGRAPH=user
ARG PORT=3001
ENV KINDRED_SUBGRAPH=${SUBGRAPH} \
    KINDRED_PORT=${PORT} \
    KINDRED_DATA_DIR=/var/lib/kindred

CMD ["sh", "-c", "exec uvicorn subgraphs.${KINDRED_SUBGRAPH}.app:app --host 0.0.0.0 --port ${KINDRED_PORT} --http kindred.protocols:HttpProtocol --ws kindred.protocols:WebSocketProtocol"]
