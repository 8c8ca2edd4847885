package bus

import "sync"

// CommandBox holds the latest authenticated operator command until the
// training loop takes it: the one mailbox between a bus subscription
// (another goroutine) and the loop's poll, for single processes and nodes
// alike. A newer command replaces one not yet taken. Safe for concurrent
// use; the zero value is empty.
type CommandBox struct {
	mu   sync.Mutex
	kind string
}

// Put stores kind, replacing a command not yet taken.
func (b *CommandBox) Put(kind string) {
	b.mu.Lock()
	b.kind = kind
	b.mu.Unlock()
}

// Take returns and clears the stored command ("" if none).
func (b *CommandBox) Take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.kind
	b.kind = ""
	return k
}
