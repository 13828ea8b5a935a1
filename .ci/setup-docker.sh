#!/usr/bin/env bash
# Docker for the container tests (tests/core/containers): the daemon, and the local
# Debian base image with python3 they build on (no image registry is reachable in CI,
# and the tests' builds need no network: they install wheels built on the host).
# Idempotent; recipe from CI-COMPONENTS.md. Needs root and Debian's package registry.
set -euo pipefail
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io mmdebstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver=overlay2 -p /run/dockerd.pid >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null
fi
if ! docker image inspect llem-test-base:bookworm >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  mmdebstrap --variant=minbase --include=python3,python3-venv bookworm "$tmp/rootfs.tar" \
    >/dev/null 2>&1
  docker import "$tmp/rootfs.tar" llem-test-base:bookworm >/dev/null
  rm -rf "$tmp"
fi
echo "docker ready: $(docker version --format '{{.Server.Version}}')"
