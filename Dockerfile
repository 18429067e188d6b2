# syntax=docker/dockerfile:1
# Multi-stage build: a static gpfed binary (migrations embedded) on a
# minimal non-root image. The same image runs every role:
#   gpfed serve | worker | scheduler | migrate | sim | sync --once | probe URL
# Base images are fully qualified (registry/repository:tag), so no registry
# search list decides what is pulled; override them to use a mirror:
#   docker build --build-arg GO_IMAGE=mirror.example/library/golang:1.26-bookworm .
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gpfed ./cmd/gpfed
# An empty directory for the compose stack's shared volume, owned by the
# image's non-root user (the runtime image has no shell to create it).
RUN mkdir -p /out/var/lib/gpfed

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/gpfed /usr/local/bin/gpfed
COPY --from=build --chown=65532:65532 /out/var/lib/gpfed /var/lib/gpfed
# The SQL is embedded in the binary; a copy is kept for operators to read.
COPY migrations/*.sql /usr/share/gpfed/migrations/
USER 65532:65532
EXPOSE 8080
ENV GPFED_HTTP_ADDR=0.0.0.0:8080 GPFED_LOG_FORMAT=json
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/gpfed", "probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/gpfed"]
CMD ["serve"]
