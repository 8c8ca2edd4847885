package cluster

// Temporary: pins the cluster dependencies in go.mod while the files that use
// them are written in parallel. Delete once membership.go and bus.go import them.
import (
	_ "github.com/hashicorp/memberlist"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
)
