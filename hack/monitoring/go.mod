// Pins the prometheus-operator release whose CRDs (ServiceMonitor, PodMonitor) the e2e tests
// install to validate the chart's monitoring templates; only its files are used, nothing is built.
module graphsync.io/hack/monitoring

go 1.24.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
