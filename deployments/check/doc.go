// Package check renders Kinetic's deployment files — the Helm chart, the
// kustomize overlay and the compose file — with the real tools' Go
// libraries and validates what they produce. It is a module of its own so
// that the main module does not carry Helm's and Kubernetes' dependencies.
package check
