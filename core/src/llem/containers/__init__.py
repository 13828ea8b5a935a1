"""The Docker runner: an experiment's backend runs in an image of its own.

Engines pin torch and CUDA versions that cannot share one Python environment, so a
study comparing them runs each backend in its own image. What moves into the container
is the backend alone: the host's worker keeps the whole lifecycle -- baseline, warmup,
the window, the NVML meter and sampler, the result -- and drives the backend in the
container through ``ContainerBackend``, a Backend that forwards every call over a Unix
socket in a directory mounted into the container (``backend_host`` answers there).
Every backend is thus measured by the same host code, whatever its image holds.

Request timestamps cross unchanged: ``perf_counter_ns`` is CLOCK_MONOTONIC, which a
container shares with its host (Docker starts no time namespace).

A container never outlives its worker: ``backend_host`` holds a second connection to
the host and exits the moment it closes (the worker ended, however it ended), and the
container runs with ``--rm``; the host also stops and removes it in ``close``.

Modules: ``runner`` (which runner and image a backend gets), ``channel`` (the socket
pair), ``proxy`` (host side), ``backend_host`` (container side), ``engine`` (the docker
CLI through python-on-whales, an optional extra: ``pip install llem-core[docker]``),
``images`` (``llem docker build``).
"""
