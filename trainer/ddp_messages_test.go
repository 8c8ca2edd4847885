package trainer

import (
	"math"
	"testing"
)

// TestControlMessagesRoundTrip: the step statistics and replica state
// decode to what was encoded (NaN loss and negative offsets included), and
// malformed payloads are errors.
func TestControlMessagesRoundTrip(t *testing.T) {
	for _, s := range []rankStepStats{{Loss: 1.5, Command: cmdNone}, {Loss: math.NaN(), Command: command(3)}} {
		b, _ := s.MarshalBinary()
		var got rankStepStats
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(got.Loss) != math.Float64bits(s.Loss) || got.Command != s.Command {
			t.Fatalf("%+v came back as %+v", s, got)
		}
	}
	st := replicaState{ParamHash: 0xdeadbeefcafef00d, Step: 7, Epoch: 2, Position: 4096, Offset: -1}
	b, _ := st.MarshalBinary()
	var got replicaState
	if err := got.UnmarshalBinary(b); err != nil || got != st {
		t.Fatalf("%+v came back as %+v (%v)", st, got, err)
	}
	if err := got.UnmarshalBinary(b[:10]); err == nil {
		t.Fatal("a short replica state decoded")
	}
	if err := new(rankStepStats).UnmarshalBinary([]byte{0, 0, 0, 0, 0, 0, 0, 0, 2, 0}); err == nil {
		t.Fatal("a ten-byte step statistics message decoded")
	}
}

// TestAgreeStep: the mean loss and rank 0's command.
func TestAgreeStep(t *testing.T) {
	loss, cmd := agreeStep([]rankStepStats{{Loss: 1, Command: command(2)}, {Loss: 3, Command: cmdNone}})
	if loss != 2 || cmd != command(2) {
		t.Fatalf("got %v %v", loss, cmd)
	}
}
