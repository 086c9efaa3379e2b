// Package k8s holds refedge's Kubernetes manifests (a StatefulSet of edge replicas with a
// spool claim per pod, Services, HPA, PodDisruptionBudget, NetworkPolicy, ConfigMap and
// Secret, the release Jobs), the Prometheus scrape configuration and alert rules
// (prometheus/), and a Grafana dashboard (grafana/).
//
// Its test validates them offline: kubeconform (installed from the Go module proxy)
// against strict JSON schemas generated from the OpenAPI document of the Kubernetes
// release in the k8s.io/kubernetes module; the rules and dashboard queries with
// Prometheus's own parsers (the check/ module); and the manifests' meaning against
// refedge itself (variables, ports, probe paths, metric names, runbooks).
package k8s
