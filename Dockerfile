# syntax=docker/dockerfile:1

# The builder runs on the build machine's own platform and cross-compiles, so
# a multi-arch image (docker buildx --platform linux/amd64,linux/arm64) needs
# no emulation. Its minor version follows go.mod.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src

# Modules first: a source change then reuses the downloaded module layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
# CGO_ENABLED=0: a static binary, so the final image needs no libc.
# -trimpath and no VCS stamping keep the build reproducible from the same source.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/eucs-agent ./cmd/eucs-agent

# The state directory exists in the image, owned by the nonroot user, so that
# a named volume mounted there (docker run -v eucs-state:/var/lib/eucs-agent)
# starts out writable by the agent; distroless has no shell to fix it later.
RUN mkdir -p /out/var/lib/eucs-agent /out/etc/eucs-agent

# distroless/static: no shell, no package manager, CA certificates and tzdata
# included; the :nonroot tag's user is 65532.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="eucs-agent" \
      org.opencontainers.image.description="Collects cloud evidence, maps it to EUCS requirements and signs it into a hash chain" \
      org.opencontainers.image.source="https://github.com/eucs-agent/eucs-agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY --from=build /out/eucs-agent /eucs-agent
COPY --from=build --chown=65532:65532 /out/var/lib/eucs-agent /var/lib/eucs-agent
COPY --from=build /out/etc/eucs-agent /etc/eucs-agent

# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# Relative paths in agent.yaml (the defaults "state" and "evidence") land on
# the state volume, never on the root filesystem, which may be read-only.
WORKDIR /var/lib/eucs-agent
# No VOLUME instruction: an anonymous volume would silently drop the chain
# state whenever the container is re-created. Mount a named volume or a
# PersistentVolumeClaim at /var/lib/eucs-agent instead.

ENTRYPOINT ["/eucs-agent"]
CMD ["run", "--config", "/etc/eucs-agent/agent.yaml"]
