package driver

import (
	"errors"
	"testing"
)

func TestStreamQueryAndSynchronize(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_BUSY_POLLS": "2"}, fakeLibs{})
	c := f.ctx(0)
	s, err := c.NewStream(StreamNonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	if l := f.last("cuStreamCreate"); l.kv["flags"] != "1" {
		t.Errorf("stream flags: %s", l.text)
	}
	if done, err := s.Query(); !done || err != nil {
		t.Errorf("an idle stream: done %v, %v", done, err)
	}
	p, _ := c.Alloc(8)
	s.Memset(p, 0, 8)
	for i, want := range []bool{false, false, true} {
		if done, err := s.Query(); done != want || err != nil {
			t.Errorf("query %d after work: done %v, %v; want %v", i, done, err, want)
		}
	}
	s.Memset(p, 0, 8)
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.Query(); !done {
		t.Error("not done after Synchronize")
	}
	if err := s.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); !errors.Is(err, ErrReleased) {
		t.Errorf("Synchronize after Destroy: %v, want ErrReleased", err)
	}
	f.checkContexts()
}

func TestEvents(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_BUSY_POLLS": "1", "FAKE_CUDA_DEVICES": "2"}, fakeLibs{})
	c0, c1 := f.ctx(0), f.ctx(1)
	s0, s1 := f.stream(c0), f.stream(c1)
	e, err := c0.NewEvent(EventDisableTiming | EventBlockingSync)
	if err != nil {
		t.Fatal(err)
	}
	if l := f.last("cuEventCreate"); l.kv["flags"] != "3" {
		t.Errorf("event flags: %s", l.text)
	}
	p, _ := c0.Alloc(8)
	s0.Memset(p, 0, 8)
	if err := e.Record(s0); err != nil {
		t.Fatal(err)
	}
	if done, err := e.Query(); done || err != nil {
		t.Errorf("an event behind busy work: done %v, %v", done, err)
	}
	if err := e.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if done, _ := e.Query(); !done {
		t.Error("not done after Synchronize")
	}
	// Waiting across contexts is allowed; recording on another's stream not.
	if err := s1.WaitEvent(e); err != nil {
		t.Fatal(err)
	}
	if l := f.last("cuStreamWaitEvent"); l.kv["owner"] != "2" || l.kv["event_ctx"] != "1" {
		t.Errorf("wait: %s", l.text)
	}
	if err := e.Record(s1); err == nil {
		t.Error("Record on a stream of another context was accepted")
	}
	if err := e.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := s0.WaitEvent(e); err == nil {
		t.Error("WaitEvent on a destroyed event was accepted")
	}
	f.checkContexts()
}
