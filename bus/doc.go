// Package bus is a job's control and telemetry bus over NATS, and `fdsm
// watch`'s dashboard of it.
//
// Subjects sit under fdsm.<job>., so one NATS server carries several jobs:
// fdsm.<job>.metrics.<rank> carries each rank's StepMetrics,
// fdsm.<job>.events the job's Events (start, fail, leave, regroup,
// checkpoint, finish, commands accepted or refused) and fdsm.<job>.cmd
// operators' Commands (messages.go).
//
// A Client (Connect) publishes without ever blocking its caller: messages
// queue for one publisher goroutine and are dropped and counted when the
// queue is full. It authenticates to its server with a token, a user nkey
// and/or TLS client certificates, and moves with Reconnect when the
// server does (client.go).
//
// Commands are authenticated end to end, whatever the server admits: a
// rank obeys only a command carrying an HMAC-SHA256 under the job's control
// secret (LoadControlSecret, ControlSecretFromEnv,
// LoadOrCreateControlSecret), issued within CommandMaxAge and not seen
// before; anything else is refused, logged and reported as an event
// (auth.go). CommandBox hands the latest accepted command to the training
// loop.
//
// Server (StartServer) is the embedded nats-server that rank 0 of a job (or
// `fdsm train --bus`) runs: loopback unless told otherwise, and refusing to
// listen beyond loopback without a token or nkeys unless the job is
// explicitly insecure (server.go). The environment variables that
// configure the bus are in env.go; package cluster reads them into a node's
// configuration, connects the node's client and embeds the server on rank 0.
//
// WatchTable folds the metrics and events of a job into per-rank rows and a
// summary that names stragglers, and RenderWatch draws them as the
// terminal table of `fdsm watch` (watch.go, watch_render.go).
//
// This package does not import package cluster; cluster imports it.
package bus
