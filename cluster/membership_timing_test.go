package cluster

import (
	"reflect"
	"testing"
	"time"
)

// TestTimingDilated: every duration of the timing, including fields added
// later, is multiplied by k; the suspicion multiplier, a count, is not; zero
// fields are filled with LAN's first. The rendezvous poll follows a slowed
// gossip round but never polls faster than rdvTick.
func TestTimingDilated(t *testing.T) {
	base := FastTiming()
	got := base.Dilated(4)
	bv, gv := reflect.ValueOf(base), reflect.ValueOf(got)
	durType := reflect.TypeFor[time.Duration]()
	for i := range bv.NumField() {
		f := bv.Type().Field(i)
		b, g := bv.Field(i), gv.Field(i)
		if f.Type == durType {
			if want := 4 * time.Duration(b.Int()); time.Duration(g.Int()) != want {
				t.Errorf("%s: %v dilated 4x is %v, want %v", f.Name, time.Duration(b.Int()), time.Duration(g.Int()), want)
			}
		} else if g.Interface() != b.Interface() {
			t.Errorf("%s: %v changed to %v", f.Name, b.Interface(), g.Interface())
		}
	}
	if z := (Timing{}).Dilated(2); z.ProbeInterval != 2*LANTiming().ProbeInterval || z.SuspicionMult != LANTiming().SuspicionMult {
		t.Errorf("zero timing dilated 2x: %+v", z)
	}
	if d := LANTiming().rendezvousTick(); d != rdvTick {
		t.Errorf("LAN rendezvous tick %v, want %v", d, rdvTick)
	}
	if d := FastTiming().rendezvousTick(); d != rdvTick {
		t.Errorf("fast rendezvous tick %v, want %v", d, rdvTick)
	}
	if d := LANTiming().Dilated(8).rendezvousTick(); d != 8*rdvTick {
		t.Errorf("LAN dilated 8x: rendezvous tick %v, want %v", d, 8*rdvTick)
	}
	// Gossip off (hour-long rounds) must not stop the loop's state exchanges.
	silent := Timing{GossipInterval: time.Hour, RendezvousSync: 300 * time.Millisecond}
	if d := silent.rendezvousTick(); d != 75*time.Millisecond {
		t.Errorf("gossip off: rendezvous tick %v, want a quarter of the exchange period, 75ms", d)
	}
}
