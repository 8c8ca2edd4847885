package nccl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

func TestNextPoll(t *testing.T) {
	d, total := firstPoll, time.Duration(0)
	if d != time.Millisecond {
		t.Errorf("first poll after %v, want 1ms", d)
	}
	for i := 0; i < 20; i++ {
		n := nextPoll(d)
		if n < d || n > maxPoll {
			t.Fatalf("nextPoll(%v) = %v", d, n)
		}
		total += d
		d = n
	}
	if d != 10*time.Millisecond {
		t.Errorf("interval settles at %v, want 10ms", d)
	}
	if total > 300*time.Millisecond {
		t.Errorf("20 polls span %v: the back-off is too slow to reach the cap", total)
	}
}

// probe reports done on its nth call and counts its calls.
type probe struct {
	mu    sync.Mutex
	n     int
	calls int
	err   error
}

func (p *probe) isDone() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.n > 0 && p.calls >= p.n, p.err
}

func TestWaitCompletes(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(time.Second)
	if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
		t.Fatal(err)
	}
	p := &probe{n: 3}
	if err := c.Wait(context.Background(), p.isDone); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if p.calls != 3 || f.count("abort") != 0 || c.Err() != nil {
		t.Errorf("probe calls %d (want 3), aborts %d, Err %v", p.calls, f.count("abort"), c.Err())
	}
	f.checkClean()
}

func TestWaitTimeoutAbortsOnce(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(80 * time.Millisecond)
	if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := c.Wait(context.Background(), (&probe{}).isDone)
	if d := time.Since(start); d < 80*time.Millisecond || d > time.Second {
		t.Errorf("Wait returned after %v, want just past the 80ms timeout", d)
	}
	if !errors.Is(err, collective.ErrTimeout) || c.Err() != err {
		t.Fatalf("Wait: %v, Err %v; want a kept ErrTimeout", err, c.Err())
	}
	if err2 := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err2 != err {
		t.Errorf("AllReduce after the timeout: %v, want the first error", err2)
	}
	if f.count("abort") != 1 || f.count("allreduce") != 1 {
		t.Errorf("want one abort and no second allreduce:\n%s", strings.Join(f.lines(), "\n"))
	}
	f.checkClean()
}

func TestWaitAsyncError(t *testing.T) {
	for _, tc := range []struct {
		code     Result
		text     string
		peerLost bool
	}{
		{RemoteError, "fake remote error", true},
		{SystemError, "fake system error", false},
	} {
		t.Run(tc.text, func(t *testing.T) {
			f := newFake(t, map[string]string{
				"FAKE_NCCL_ASYNC_ERR": fmt.Sprint(int(tc.code)), "FAKE_NCCL_ERR_AFTER": "2",
			})
			c := f.newComm(10 * time.Second)
			if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := c.Wait(context.Background(), (&probe{}).isDone)
			var ne *Error
			if !errors.Is(err, collective.ErrAborted) || errors.Is(err, collective.ErrTimeout) ||
				!errors.As(err, &ne) || ne.Code != tc.code ||
				!strings.Contains(err.Error(), tc.text) || !strings.Contains(err.Error(), "fake last error detail") {
				t.Fatalf("Wait: %v, want ErrAborted with NCCL's error %d", err, tc.code)
			}
			if errors.Is(err, collective.ErrPeerLost) != tc.peerLost {
				t.Errorf("errors.Is(ErrPeerLost) = %v for code %d", !tc.peerLost, tc.code)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the error took %v to surface", d)
			}
			if f.count("abort") != 1 || f.count(fmt.Sprintf("poll %d", tc.code)) != 1 {
				t.Errorf("want the error seen once and one abort:\n%s", strings.Join(f.lines(), "\n"))
			}
			f.checkClean()
		})
	}
}

func TestWaitProbeError(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(time.Second)
	bad := errors.New("stream query failed")
	err := c.Wait(context.Background(), (&probe{err: bad}).isDone)
	if !errors.Is(err, collective.ErrAborted) || !errors.Is(err, bad) || f.count("abort") != 1 {
		t.Errorf("Wait: %v, aborts %d; want ErrAborted wrapping the probe's error, one abort",
			err, f.count("abort"))
	}
	if err := c.Wait(context.Background(), nil); err == nil {
		t.Error("Wait with a nil probe succeeded")
	}
	f.checkClean()
}

func TestAbortConcurrent(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(10 * time.Second)
	if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error)
	go func() { waitErr <- c.Wait(context.Background(), (&probe{}).isDone) }()
	time.Sleep(20 * time.Millisecond)
	var wg sync.WaitGroup
	reasons := make([]error, 8)
	for i := range reasons {
		reasons[i] = fmt.Errorf("reason %d", i)
		wg.Add(1)
		go func() { defer wg.Done(); c.Abort(reasons[i]) }()
	}
	c.Abort(nil)
	wg.Wait()
	var err error
	select {
	case err = <-waitErr:
	case <-time.After(2 * time.Second):
		t.Fatal("Wait did not return after Abort")
	}
	if !errors.Is(err, collective.ErrAborted) || err != c.Err() {
		t.Errorf("Wait: %v, Err %v; want the first abort's error", err, c.Err())
	}
	if f.count("abort") != 1 {
		t.Errorf("ncclCommAbort called %d times, want exactly 1", f.count("abort"))
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after Abort: %v", err)
	}
	f.checkClean()
}

func TestAbortKeepsFirstError(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(30 * time.Millisecond)
	first := c.Wait(context.Background(), (&probe{}).isDone)
	if !errors.Is(first, collective.ErrTimeout) {
		t.Fatalf("Wait: %v, want ErrTimeout", first)
	}
	late := errors.New("late reason")
	c.Abort(late)
	if err := c.Err(); err != first || errors.Is(err, late) {
		t.Errorf("Err after a later Abort = %v, want the first error %v", err, first)
	}
	if f.count("abort") != 1 {
		t.Errorf("ncclCommAbort called %d times, want 1", f.count("abort"))
	}
}
