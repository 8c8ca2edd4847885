package nccl

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

// newComm initializes rank 0 of 2 over f's library with timeout.
func (f *fake) newComm(timeout time.Duration) *Comm {
	f.t.Helper()
	c, err := initRank(context.Background(), f.lib, UniqueID{}, 2, 0, timeout)
	if err != nil {
		f.t.Fatalf("initRank: %v", err)
	}
	return c
}

func TestInitRankNonBlocking(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_INIT_POLLS": "3"})
	id, err := uniqueID(f.lib)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range id {
		if b != byte(i*7+3) {
			t.Fatalf("id[%d] = %d, want the fake's %d", i, b, byte(i*7+3))
		}
	}
	id[100], id[127] = 42, 0xee // all 128 bytes must reach NCCL, not stale ones
	c, err := initRank(context.Background(), f.lib, id, 4, 2, time.Second)
	if err != nil {
		t.Fatalf("initRank: %v", err)
	}
	if c.Rank() != 2 || c.Size() != 4 || c.Err() != nil {
		t.Errorf("rank %d size %d err %v", c.Rank(), c.Size(), c.Err())
	}
	h := fnv.New32a()
	h.Write(id[:])
	want := fmt.Sprintf("init nranks=4 rank=2 blocking=0 size=80 magic=0xcafebeef version=22809 undef=1 id=%08x", h.Sum32())
	if got := f.find("init"); got != want {
		t.Errorf("the fake saw\n  %s\nwant\n  %s", got, want)
	}
	if n := f.count("poll 7"); n != 3 {
		t.Errorf("%d polls answered InProgress, want all 3", n)
	}
	if f.count("poll 0") != 1 || f.count("abort") != 0 {
		t.Errorf("want one final Success poll and no abort:\n%s", strings.Join(f.lines(), "\n"))
	}
	f.checkClean()
}

func TestInitRankImmediateError(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_INIT_RESULT": "5"})
	_, err := initRank(context.Background(), f.lib, UniqueID{}, 2, 1, time.Second)
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != InvalidUsage || ne.Call != "ncclCommInitRankConfig" ||
		ne.Text != "fake invalid usage" || ne.Detail != "fake last error detail" {
		t.Fatalf("err %v (%#v), want ncclCommInitRankConfig's InvalidUsage with NCCL's words", err, ne)
	}
	if n := f.count("abort"); n != 1 {
		t.Errorf("%d aborts of the half-made communicator, want 1", n)
	}
	f.checkClean()
}

func TestInitRankTimeout(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_INIT_POLLS": "-1"})
	start := time.Now()
	_, err := initRank(context.Background(), f.lib, UniqueID{}, 2, 0, 60*time.Millisecond)
	d := time.Since(start)
	if !errors.Is(err, collective.ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if d < 60*time.Millisecond || d > time.Second {
		t.Errorf("timed out after %v, want just past 60ms", d)
	}
	if n := f.count("abort"); n != 1 {
		t.Errorf("ncclCommAbort called %d times, want exactly 1", n)
	}
	f.checkClean()
}

func TestInitRankContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want []error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(40*time.Millisecond, cancel)
			return ctx, cancel
		}, []error{collective.ErrAborted, context.Canceled}},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 40*time.Millisecond)
		}, []error{collective.ErrTimeout, context.DeadlineExceeded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, map[string]string{"FAKE_NCCL_INIT_POLLS": "-1"})
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := initRank(ctx, f.lib, UniqueID{}, 2, 0, time.Minute)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err %v does not wrap %v", err, w)
				}
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v; the context ended after 40ms", d)
			}
			if n := f.count("abort"); n != 1 {
				t.Errorf("ncclCommAbort called %d times, want 1", n)
			}
			f.checkClean()
		})
	}
}

func TestInitRankArguments(t *testing.T) {
	f := newFake(t, nil)
	for _, rn := range [][2]int{{0, 0}, {2, 2}, {2, -1}} {
		if _, err := initRank(context.Background(), f.lib, UniqueID{}, rn[0], rn[1], time.Second); err == nil {
			t.Errorf("nranks %d rank %d accepted", rn[0], rn[1])
		}
	}
	if n := f.count("init"); n != 0 {
		t.Errorf("bad arguments reached NCCL %d times", n)
	}
}

func TestCollectiveArgumentMapping(t *testing.T) {
	f := newFake(t, nil)
	c := f.newComm(time.Second)
	const send, recv, stream = 0x1000, 0x2000, 0xbeef
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { return c.AllReduce(send, recv, 5, Float64, collective.Average, stream) },
			"allreduce send=0x1000 recv=0x2000 count=5 dtype=8 op=4 stream=0xbeef"},
		{func() error { return c.AllReduce(send, send, 6, Float32, collective.Sum, stream) },
			"allreduce send=0x1000 recv=0x1000 count=6 dtype=7 op=0 stream=0xbeef"},
		{func() error { return c.ReduceScatter(send, recv, 7, BFloat16, collective.Average, stream) },
			"reducescatter send=0x1000 recv=0x2000 count=7 dtype=9 op=4 stream=0xbeef"},
		{func() error { return c.Broadcast(send, recv, 8, Float32, 1, stream) },
			"broadcast send=0x1000 recv=0x2000 count=8 dtype=7 root=1 stream=0xbeef"},
		{func() error { return c.AllGather(send, recv, 9, Float64, stream) },
			"allgather send=0x1000 recv=0x2000 count=9 dtype=8 stream=0xbeef"},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if l := f.lines(); l[len(l)-1] != tc.want {
			t.Errorf("the fake saw\n  %s\nwant\n  %s", l[len(l)-1], tc.want)
		}
	}
	f.checkClean()
}

func TestCollectiveInProgressIsDrained(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_COLL_RESULT": "7", "FAKE_NCCL_COLL_POLLS": "4"})
	c := f.newComm(time.Second)
	for i := 0; i < 2; i++ {
		if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
			t.Fatalf("AllReduce %d: %v", i, err)
		}
	}
	if n := f.count("poll 7"); n != 8 {
		t.Errorf("%d InProgress polls, want 4 after each AllReduce", n)
	}
	f.checkClean() // the second AllReduce came only after the first left InProgress
}

func TestCollectiveInProgressTimesOut(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_COLL_RESULT": "7", "FAKE_NCCL_COLL_POLLS": "-1"})
	c := f.newComm(50 * time.Millisecond)
	err := c.AllGather(1, 2, 3, Float32, 0)
	if !errors.Is(err, collective.ErrTimeout) || f.count("abort") != 1 {
		t.Errorf("err %v, aborts %d; want ErrTimeout and one abort", err, f.count("abort"))
	}
	f.checkClean()
}

func TestCollectiveErrorBreaksComm(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_COLL_RESULT": "4"})
	c := f.newComm(time.Second)
	err := c.AllReduce(1, 2, 3, Float32, collective.Sum, 0)
	var ne *Error
	if !errors.Is(err, collective.ErrAborted) || !errors.As(err, &ne) || ne.Code != InvalidArgument ||
		!strings.Contains(err.Error(), "fake invalid argument") ||
		!strings.Contains(err.Error(), "fake last error detail") {
		t.Fatalf("err %v, want ErrAborted wrapping ncclAllReduce's InvalidArgument", err)
	}
	before := len(f.lines())
	if err2 := c.Broadcast(1, 2, 3, Float32, 0, 0); err2 != err || c.Err() != err {
		t.Errorf("later call: %v, Err %v; want the first error %v", err2, c.Err(), err)
	}
	if len(f.lines()) != before || f.count("abort") != 1 {
		t.Errorf("a broken communicator reached NCCL again or aborted twice:\n%s",
			strings.Join(f.lines(), "\n"))
	}
	f.checkClean()
}

func TestCollectiveBadArgumentsBreakComm(t *testing.T) {
	for name, call := range map[string]func(c *Comm) error{
		"dtype":     func(c *Comm) error { return c.AllReduce(1, 1, 1, DataType(0), collective.Sum, 0) },
		"op":        func(c *Comm) error { return c.ReduceScatter(1, 1, 1, Float32, collective.ReduceOp(9), 0) },
		"count":     func(c *Comm) error { return c.AllGather(1, 1, -1, Float32, 0) },
		"root":      func(c *Comm) error { return c.Broadcast(1, 1, 1, Float32, 2, 0) },
		"rootBelow": func(c *Comm) error { return c.Broadcast(1, 1, 1, Float32, -1, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, nil)
			c := f.newComm(time.Second)
			if err := call(c); !errors.Is(err, collective.ErrAborted) || c.Err() != err {
				t.Errorf("err %v, Err %v; want a kept error wrapping ErrAborted", err, c.Err())
			}
			for _, p := range []string{"allreduce", "reducescatter", "allgather", "broadcast"} {
				if f.count(p) != 0 {
					t.Errorf("bad arguments reached NCCL: %s", p)
				}
			}
			if f.count("abort") != 1 {
				t.Errorf("aborts %d, want 1", f.count("abort"))
			}
		})
	}
}

func TestErrorWithoutLastError(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_COLL_RESULT": "2"}, "-DFAKE_NO_LAST_ERROR")
	c := f.newComm(time.Second)
	err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0)
	var ne *Error
	if !errors.As(err, &ne) || ne.Code != SystemError || ne.Detail != "" ||
		!strings.Contains(err.Error(), "fake system error") {
		t.Errorf("err %v, want SystemError with no detail", err)
	}
}

func TestCloseFinalizesAndDestroys(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_FINALIZE_POLLS": "2"})
	c := f.newComm(time.Second)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f.count("finalize") != 1 || f.count("destroy") != 1 || f.count("abort") != 0 {
		t.Errorf("want finalize, destroy and no abort:\n%s", strings.Join(f.lines(), "\n"))
	}
	if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); !errors.Is(err, collective.ErrAborted) ||
		!strings.Contains(err.Error(), "closed") {
		t.Errorf("AllReduce after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	f.checkClean()
}

func TestCloseTimesOutIntoAbort(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_NCCL_FINALIZE_POLLS": "-1"})
	c := f.newComm(50 * time.Millisecond)
	if err := c.Close(); !errors.Is(err, collective.ErrTimeout) {
		t.Errorf("Close: %v, want ErrTimeout", err)
	}
	if f.count("abort") != 1 || f.count("destroy") != 0 {
		t.Errorf("want one abort and no destroy:\n%s", strings.Join(f.lines(), "\n"))
	}
	f.checkClean()
}

func TestPublicAPIOverEnvLibrary(t *testing.T) {
	needCgo(t)
	f := newFake(t, map[string]string{"FAKE_NCCL_INIT_POLLS": "1"})
	resetDefault(t)
	t.Setenv(EnvLibrary, buildFake(t))
	id, err := NewUniqueID()
	if err != nil || id[1] != 10 {
		t.Fatalf("NewUniqueID: %v (id[1] = %d, want 10)", err, id[1])
	}
	c, err := InitRank(context.Background(), id, 1, 0, time.Second)
	if err != nil {
		t.Fatalf("InitRank: %v", err)
	}
	if err := c.AllReduce(1, 1, 1, Float32, collective.Sum, 0); err != nil {
		t.Fatalf("AllReduce: %v", err)
	}
	if err := c.Wait(context.Background(), func() (bool, error) { return true, nil }); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if f.count("allreduce") != 1 {
		t.Errorf("the fake saw no allreduce")
	}
}
