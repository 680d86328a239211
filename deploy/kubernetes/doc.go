// Package kubernetes holds the Kubernetes manifests that run the serving
// image as stateless replicas (a Deployment, a Service, a
// HorizontalPodAutoscaler, the models' volume claim and config) and the
// test that checks them against cmd/serve, the Dockerfile and
// scripts/image.sh. It has no Go code: its only import of k8s.io is in the
// test, so the server binary carries none of it.
package kubernetes
