package trainer

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each update. step counts the updates
// already taken: LR(0) is the rate of the first update, as in PyTorch, where
// the first optimizer.step() runs before the first scheduler.step().
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant struct{ Rate float64 }

// LR implements Schedule.
func (c Constant) LR(int) float64 { return c.Rate }

// Cosine anneals from Base at step 0 to Min at step Total with PyTorch's
// CosineAnnealingLR closed form, Min + (Base-Min)(1+cos(π·t/Total))/2, and
// stays at Min afterwards (PyTorch would rise again; a run never wants that).
type Cosine struct {
	Base, Min float64
	Total     int
}

// LR implements Schedule.
func (c Cosine) LR(step int) float64 {
	if step >= c.Total {
		return c.Min
	}
	t := float64(max(step, 0))
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*t/float64(c.Total)))/2
}

// Linear decays linearly from Base at step 0 to Min at step Total and stays
// at Min afterwards.
type Linear struct {
	Base, Min float64
	Total     int
}

// LR implements Schedule.
func (l Linear) LR(step int) float64 {
	if step >= l.Total {
		return l.Min
	}
	t := float64(max(step, 0))
	return l.Base + (l.Min-l.Base)*t/float64(l.Total)
}

// Warmup ramps linearly for the first Steps updates and then runs Then,
// shifted to start where the ramp ends: LR(k) = Then.LR(0)·(k+1)/Steps for
// k < Steps, else Then.LR(k-Steps). The ramp starts at Then.LR(0)/Steps
// rather than 0 so that no update is wasted, and its last update reaches
// Then.LR(0).
type Warmup struct {
	Steps int
	Then  Schedule
}

// LR implements Schedule.
func (w Warmup) LR(step int) float64 {
	if step < w.Steps {
		return w.Then.LR(0) * float64(max(step, 0)+1) / float64(w.Steps)
	}
	return w.Then.LR(step - w.Steps)
}

// NewSchedule returns the schedule kind ("constant", "cosine" or "linear")
// starting at base, for a run of total updates of which the first warmup are
// a linear ramp (0 for none). Cosine and linear decay to min over the
// total-warmup updates after the ramp, reaching min at the end of the run.
func NewSchedule(kind string, base float64, total, warmup int, min float64) (Schedule, error) {
	if !(base > 0) || math.IsInf(base, 0) {
		return nil, fmt.Errorf("schedule: learning rate must be finite and > 0, got %g", base)
	}
	if warmup < 0 {
		return nil, fmt.Errorf("schedule: warmup must be >= 0, got %d", warmup)
	}
	var s Schedule
	switch kind {
	case "constant":
		s = Constant{Rate: base}
	case "cosine", "linear":
		if !(min >= 0 && min <= base) {
			return nil, fmt.Errorf("schedule: min_lr must be in [0, lr=%g], got %g", base, min)
		}
		if total <= warmup {
			return nil, fmt.Errorf("schedule: %s needs more total steps (%d) than warm-up steps (%d)", kind, total, warmup)
		}
		if kind == "cosine" {
			s = Cosine{Base: base, Min: min, Total: total - warmup}
		} else {
			s = Linear{Base: base, Min: min, Total: total - warmup}
		}
	default:
		return nil, fmt.Errorf("schedule: unknown kind %q (valid: constant, cosine, linear)", kind)
	}
	if warmup > 0 {
		s = Warmup{Steps: warmup, Then: s}
	}
	return s, nil
}
