# The CPU test image: Debian's python3 (llem-test-base, built by .ci/setup-docker.sh),
# llem-core from this checkout and the template's echo backend, installed from wheels
# built on the host: the build needs no network.
FROM llem-test-base:bookworm
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/llem && /opt/llem/bin/pip install --no-cache-dir --no-index \
    --find-links /tmp/wheels llem-core llem-echo && rm -rf /tmp/wheels
ENV PATH=/opt/llem/bin:$PATH
