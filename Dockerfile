# Silt's container image: a static binary on a distroless base, non-root.
#
#   docker build -t silt \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -p 8086:8086 -p 5432:5432 -v silt-data:/var/lib/silt silt
#
# The builder runs the Makefile's build-static target, so the image holds
# the same binary 'make build-static' makes (a test checks the two agree).

# The Go version of go.mod's go directive.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=
RUN mkdir -p /out && make build-static BIN=/out/silt VERSION="$VERSION" REVISION="$REVISION" \
 && /out/silt version \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/silt /usr/local/bin/silt
# The data directory, owned by the image's non-root user (65532).
COPY --from=build --chown=65532:65532 /out/data /var/lib/silt
USER 65532:65532
VOLUME /var/lib/silt
# HTTP (InfluxDB APIs, SQL, /metrics) and the PostgreSQL wire protocol.
EXPOSE 8086 5432
# Ready once the WAL is replayed: a large WAL takes a while, hence the
# start period.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 \
  CMD ["/usr/local/bin/silt", "ready", "--url", "http://127.0.0.1:8086/ready"]
ENTRYPOINT ["/usr/local/bin/silt"]
CMD ["serve", "--data-dir", "/var/lib/silt", "--http-addr", "0.0.0.0:8086", "--pg-addr", "0.0.0.0:5432"]
