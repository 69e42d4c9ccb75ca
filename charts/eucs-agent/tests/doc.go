// Package tests checks the eucs-agent Helm chart and the Dockerfile. It renders
// the chart with the helm CLI for every ci/*-values.yaml scenario and asserts
// on the manifests: each decodes strictly into its Kubernetes API type, the
// pod meets the "restricted" Pod Security Standard, exactly one agent signs
// each chain (one in all, or one per shard in a sharded StatefulSet), the
// schema rejects misspelt keys, and the rendered agent.yaml and shard
// arguments are accepted by the agent itself.
//
// It is a module of its own so that the Kubernetes and Helm dependencies stay
// out of the agent's go.mod. Run it with charts/eucs-agent/tests/run.sh, which
// builds the pinned helm (see go.mod's tool line) and passes it in $HELM.
package tests
