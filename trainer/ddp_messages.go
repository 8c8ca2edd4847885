package trainer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The control messages of a data-parallel step, exchanged on the control
// communicator (collective.Exchange) apart from the gradients.

// rankStepStats is one rank's view of a logging step: its mean loss, and
// the operator command it holds (only rank 0's counts, so every rank obeys
// it at the same step).
type rankStepStats struct {
	Loss    float64
	Command command
}

const stepStatsLen = 8 + 1

func (*rankStepStats) MessageKind() string { return "fdsm.step-stats.v2" }

func (s *rankStepStats) MarshalBinary() ([]byte, error) {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, stepStatsLen), math.Float64bits(s.Loss))
	return append(b, byte(s.Command)), nil
}

func (s *rankStepStats) UnmarshalBinary(b []byte) error {
	if len(b) != stepStatsLen {
		return fmt.Errorf("step statistics: malformed (%d bytes)", len(b))
	}
	s.Loss = math.Float64frombits(binary.LittleEndian.Uint64(b))
	s.Command = command(b[8])
	return nil
}

// agreeStep combines every rank's statistics: the mean loss and rank 0's
// command.
func agreeStep(all []rankStepStats) (loss float64, cmd command) {
	for _, s := range all {
		loss += s.Loss
	}
	return loss / float64(len(all)), all[0].Command
}

// replicaState is what must be equal on every rank after a step: a hash of
// the parameters' bits and the data position.
type replicaState struct {
	ParamHash                     uint64
	Step, Epoch, Position, Offset int64
}

const replicaStateLen = 5 * 8

func (*replicaState) MessageKind() string { return "fdsm.replica-state.v1" }

func (s *replicaState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, replicaStateLen)
	b = binary.LittleEndian.AppendUint64(b, s.ParamHash)
	for _, v := range []int64{s.Step, s.Epoch, s.Position, s.Offset} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b, nil
}

func (s *replicaState) UnmarshalBinary(b []byte) error {
	if len(b) != replicaStateLen {
		return fmt.Errorf("replica state: malformed (%d bytes)", len(b))
	}
	s.ParamHash = binary.LittleEndian.Uint64(b)
	for i, p := range []*int64{&s.Step, &s.Epoch, &s.Position, &s.Offset} {
		*p = int64(binary.LittleEndian.Uint64(b[8*(i+1):]))
	}
	return nil
}

// validationLoss is rank 0's validation loss, which every rank uses for the
// same early-stopping decision.
type validationLoss struct{ Loss float64 }

func (*validationLoss) MessageKind() string { return "fdsm.validation-loss.v1" }

func (v *validationLoss) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v.Loss)), nil
}

func (v *validationLoss) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("validation loss: malformed (%d bytes)", len(b))
	}
	v.Loss = math.Float64frombits(binary.LittleEndian.Uint64(b))
	return nil
}
