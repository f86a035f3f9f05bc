// Package deploy holds no code. Its tests check the deployment files beside
// it and at the repository root (Dockerfile, docker-compose.yml, the
// Kubernetes manifests, the Prometheus config and alerting rules, the
// Grafana dashboard) with the libraries their own tools use, since no
// Docker engine or cluster runs where the tests do.
//
// deploy is a module of its own (github.com/flowsieve/flowsieve/deploy,
// replacing the product module with the repository beside it), so that
// compose-go, k8s.io/api and Prometheus, which only these tests need, stay
// out of the product's go.mod. `make test` and `make lint` run it too
// (cd deploy && go test ./...).
package deploy
