package bus

import (
	"sync"
	"testing"
)

// TestCommandBox: the newest command wins, Take clears it, and Put and
// Take may race (run under -race).
func TestCommandBox(t *testing.T) {
	var b CommandBox
	if c := b.Take(); c != "" {
		t.Fatalf("empty box gave %q", c)
	}
	b.Put("checkpoint")
	b.Put("stop")
	if c := b.Take(); c != "stop" {
		t.Fatalf("Take = %q, want the newest, stop", c)
	}
	if c := b.Take(); c != "" {
		t.Fatalf("second Take = %q, want empty", c)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); b.Put("checkpoint") }()
		go func() { defer wg.Done(); b.Take() }()
	}
	wg.Wait()
}
