# llem's vllm backend on vLLM's OpenAI server image (vllm/vllm-openai on Docker Hub).
# Built by `llem docker build vllm`, which passes BASE (chosen by the host's CUDA driver),
# LLEM_VERSION and FROM_SOURCE (1: install the checkout copied into src/, else the
# released llem-core and llem-vllm of LLEM_VERSION from the package index).
ARG BASE
FROM ${BASE}
ARG LLEM_VERSION
ARG FROM_SOURCE=0
COPY src/ /tmp/llem-src/
RUN if [ "$FROM_SOURCE" = "1" ]; then \
        python3 -m pip install --no-cache-dir /tmp/llem-src/core /tmp/llem-src/plugin; \
    else \
        python3 -m pip install --no-cache-dir "llem-core==${LLEM_VERSION}" "llem-vllm==${LLEM_VERSION}"; \
    fi && rm -rf /tmp/llem-src
ENTRYPOINT []
CMD ["python3", "-m", "llem.containers.backend_host", "vllm"]
