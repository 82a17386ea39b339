# fhirbridge: a slim, non-root image. Build: docker build -t fhirbridge .
# Run on SQLite (data in the /data volume):   docker run -p 8080:8080 -v fhirbridge-data:/data fhirbridge
# Run on PostgreSQL (several replicas):       docker run -p 8080:8080 -e FHIRBRIDGE_DATABASE_URL=postgresql://user:pw@db:5432/fhir fhirbridge
# Every run needs its token issuer:            -e FHIRBRIDGE_AUTH_ISSUERS='[{"issuer":"https://idp/realm","jwks":"https://idp/realm/certs"}]'
#                                              (FHIRBRIDGE_AUTH=off only for a local demo; docs/security.md)
# Two instances, a worker and PostgreSQL: compose.yaml (README, "Deploying").
#
# The base is an exact release (Python and Debian), never a floating tag; where a registry is
# reachable, pin its digest too: --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:…
# (docker buildx imagetools inspect python:3.11.13-slim-bookworm prints it).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# fhirbridge itself as a wheel (the build backend is needed here only).
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY profiles ./profiles
COPY mappings ./mappings
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FHIRBRIDGE_DATABASE_URL=sqlite:////data/fhirbridge.db
RUN groupadd --system --gid 10001 fhirbridge \
 && useradd --system --uid 10001 --gid fhirbridge --home-dir /data --shell /usr/sbin/nologin fhirbridge \
 && mkdir /data && chown fhirbridge:fhirbridge /data
# Dependencies in their own layer, exactly as locked (every file's hash checked, no resolver):
# a change to the code does not reinstall them; a change to the lock does (`make lock`).
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: -r /tmp/runtime.lock \
 && rm /tmp/runtime.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps --no-index /wheels/fhirbridge-*.whl && rm -rf /wheels
USER fhirbridge
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Liveness: /healthz answers while the process runs (readiness, /readyz, is the database: compose.yaml).
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
CMD ["fhirbridge", "serve", "--host", "0.0.0.0", "--port", "8080"]
