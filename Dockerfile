# flowsieve container image.
#
#   docker build -t flowsieve \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --rm -v "$PWD/config:/etc/flowsieve:ro" -p 9464:9464 \
#     -e FLOWSIEVE_KAFKA_BROKERS=kafka:9092 -e FLOWSIEVE_RULES_FILE=/etc/flowsieve/rules.yaml \
#     -e FLOWSIEVE_METRICS_LISTEN=:9464 flowsieve
#
# The image holds only the binary: the config file and the rules are mounted
# (a bind mount with docker compose, a ConfigMap volume in Kubernetes), so a
# rules change reaches the running process without a new image.

FROM golang:1.26 AS build
# What `flowsieve version` and flowsieve_build_info report, stamped as
# `make build` does: .dockerignore leaves .git out, so the go command
# cannot read the revision itself. Unset ones print "unknown".
ARG VERSION= REVISION= BRANCH= BUILD_DATE=
WORKDIR /src
COPY . .
# A static binary (no cgo), so it runs on distroless/static, which has no
# libc. The cache mounts keep modules and compiled packages between builds;
# `go build` downloads only the modules the binary needs. deploy/ is a module
# of its own (its tests' libraries are in deploy/go.mod) and .dockerignore
# leaves it out. deploy/dockerfile_test.go runs this same command.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w \
      -X github.com/prometheus/common/version.Version=${VERSION} \
      -X github.com/prometheus/common/version.Revision=${REVISION} \
      -X github.com/prometheus/common/version.Branch=${BRANCH} \
      -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/flowsieve ./cmd/flowsieve

# distroless/static: CA certificates (for kafka.tls against public CAs),
# /etc/passwd with the nonroot user, tzdata, and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flowsieve /usr/local/bin/flowsieve
# 65532 is distroless's nonroot; numeric so that Kubernetes' runAsNonRoot can
# check it without reading /etc/passwd.
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/flowsieve"]
CMD ["run", "--config", "/etc/flowsieve/flowsieve.yaml"]
