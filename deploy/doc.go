// Package deploy holds no code. Its tests check the deployment files beside
// it and at the repository root (Dockerfile, docker-compose.yml, the
// Kubernetes manifests, the Prometheus config and alerting rules, the
// Grafana dashboard) with the libraries their own tools use, since no
// Docker engine or cluster runs where the tests do.
package deploy
