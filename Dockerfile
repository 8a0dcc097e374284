# syntax=docker/dockerfile:1
# genrouter: a static binary on distroless, running as the nonroot user (65532).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t genrouter .
#   docker run --rm -p 127.0.0.1:8082:8082 -e OPENAI_API_KEY genrouter

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" \
      -o /out/genrouter ./cmd/genrouter && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/genrouter /genrouter
# The default SQLite database is ./data/genrouter.db: a directory the
# nonroot user owns, which a volume mounted there (compose) starts from.
COPY --from=build --chown=65532:65532 /out/data /var/lib/genrouter/data
WORKDIR /var/lib/genrouter
USER 65532:65532
EXPOSE 8082
# No HEALTHCHECK: distroless has no shell, curl or wget. Probe GET /health
# from outside (compose, Kubernetes httpGet) instead.
ENTRYPOINT ["/genrouter"]
CMD ["serve", "--listen", ":8082"]
