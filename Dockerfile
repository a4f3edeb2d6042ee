# Dockerfile: the optin-gateway server image.
#
#   docker build -t optin-gateway .
#   docker compose up            # with Redis, as deployed (docker-compose.yml)
#
# The runtime image is distroless (no shell, no curl), running as the nonroot
# user (65532); its health check is the binary itself:
# `optin-gateway healthcheck --url http://127.0.0.1:8080/healthz`.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/optin-gateway ./cmd/optin-gateway
# distroless has no shell to mkdir with: make the data directory here.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="optin-gateway" \
      org.opencontainers.image.description="SMS double opt-in gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY LICENSE /usr/share/doc/optin-gateway/LICENSE
COPY --from=build /out/optin-gateway /usr/local/bin/optin-gateway
COPY config/example.yaml /etc/optin-gateway/config.yaml
COPY --from=build --chown=65532:65532 /out/data /var/lib/optin-gateway
ENV OPTIN_DATA_DIR=/var/lib/optin-gateway
VOLUME ["/var/lib/optin-gateway"]
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/optin-gateway"]
CMD ["serve", "--config", "/etc/optin-gateway/config.yaml"]
