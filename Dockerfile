# syntax=docker/dockerfile:1
# Multi-stage build: a static gpfed binary (migrations embedded) on a
# minimal non-root image. The same image runs every role:
#   gpfed serve | worker | scheduler | migrate | sim | sync --once
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gpfed ./cmd/gpfed

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gpfed /usr/local/bin/gpfed
# The SQL is embedded in the binary; a copy is kept for operators to read.
COPY migrations/*.sql /usr/share/gpfed/migrations/
USER nonroot:nonroot
EXPOSE 8080
ENV GPFED_HTTP_ADDR=0.0.0.0:8080 GPFED_LOG_FORMAT=json
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/gpfed"]
CMD ["serve"]
