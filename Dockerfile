# flowsieve container image.
#
#   docker build -t flowsieve .
#   docker run --rm -v "$PWD/config:/etc/flowsieve:ro" -p 9464:9464 \
#     -e FLOWSIEVE_KAFKA_BROKERS=kafka:9092 -e FLOWSIEVE_RULES_FILE=/etc/flowsieve/rules.yaml \
#     -e FLOWSIEVE_METRICS_LISTEN=:9464 flowsieve
#
# The image holds only the binary: the config file and the rules are mounted
# (a bind mount with docker compose, a ConfigMap volume in Kubernetes), so a
# rules change reaches the running process without a new image.

FROM golang:1.26 AS build
WORKDIR /src
COPY . .
# A static binary (no cgo), so it runs on distroless/static, which has no
# libc. The cache mounts keep modules and compiled packages between builds;
# `go build` downloads only the modules the binary needs. deploy/ is a module
# of its own (its tests' libraries are in deploy/go.mod) and .dockerignore
# leaves it out. deploy/dockerfile_test.go runs this same command.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/flowsieve ./cmd/flowsieve

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
