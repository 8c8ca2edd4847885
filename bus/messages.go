package bus

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Subjects of the control bus. Every subject of a job sits under
// fdsm.<job>., so one NATS server can carry several jobs.
//
//	fdsm.<job>.metrics.<rank>  StepMetrics, one per rank and step
//	fdsm.<job>.events          Event: membership, checkpoints, refusals
//	fdsm.<job>.cmd             Command: operator requests, signed

// MetricsSubject returns the subject a rank publishes its step metrics on.
func MetricsSubject(job string, rank int) string {
	return fmt.Sprintf("fdsm.%s.metrics.%d", job, rank)
}

// AllMetricsSubject matches every rank's metrics subject.
func AllMetricsSubject(job string) string { return "fdsm." + job + ".metrics.*" }

// EventsSubject returns the subject of a job's events.
func EventsSubject(job string) string { return "fdsm." + job + ".events" }

// CommandSubject returns the subject of a job's commands.
func CommandSubject(job string) string { return "fdsm." + job + ".cmd" }

// ValidateJobName reports whether job can name a job on the bus: a
// non-empty NATS subject token (no dots, wildcards or white space).
func ValidateJobName(job string) error {
	if job == "" {
		return fmt.Errorf("empty job name")
	}
	if i := strings.IndexFunc(job, func(r rune) bool {
		return r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f
	}); i >= 0 {
		return fmt.Errorf("job name %q: %q is not allowed (no dots, wildcards or white space)", job, job[i])
	}
	return nil
}

// StepMetrics is one rank's timing of one training step. Times are in
// milliseconds; StepMs covers the whole step, and its parts are the wait for
// data, the local computation, and the wait inside collectives.
type StepMetrics struct {
	Job              string    `json:"job"`
	Rank             int       `json:"rank"`
	World            int       `json:"world"`
	Generation       uint64    `json:"generation"`
	Step             int       `json:"step"`
	Time             time.Time `json:"time"`
	StepMs           float64   `json:"step_ms"`
	DataWaitMs       float64   `json:"data_wait_ms"`
	ComputeMs        float64   `json:"compute_ms"`
	CollectiveWaitMs float64   `json:"collective_wait_ms"`
	// ArrivalUnixNano is when this rank entered the step's first
	// collective; the rank arriving last is the one the others wait for.
	// Zero when unknown.
	ArrivalUnixNano int64   `json:"arrival_unix_nano,omitempty"`
	Loss            float64 `json:"loss"`
	// SamplesPerSec is this rank's throughput; the job's is the sum.
	SamplesPerSec float64 `json:"samples_per_sec,omitempty"`
}

// stepMetricsWire is StepMetrics without its JSON methods.
type stepMetricsWire StepMetrics

// MarshalJSON encodes the metrics; a non-finite loss or throughput (a
// diverged step) travels as "NaN", "+Inf" or "-Inf" instead of failing the
// whole message.
func (m StepMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		stepMetricsWire
		Loss          jsonFloat `json:"loss"`
		SamplesPerSec jsonFloat `json:"samples_per_sec,omitempty"`
	}{stepMetricsWire(m), jsonFloat(m.Loss), jsonFloat(m.SamplesPerSec)})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (m *StepMetrics) UnmarshalJSON(b []byte) error {
	var w struct {
		stepMetricsWire
		Loss          jsonFloat `json:"loss"`
		SamplesPerSec jsonFloat `json:"samples_per_sec,omitempty"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = StepMetrics(w.stepMetricsWire)
	m.Loss, m.SamplesPerSec = float64(w.Loss), float64(w.SamplesPerSec)
	return nil
}

// jsonFloat is a float64 whose JSON form is a number, or a string for NaN
// and the infinities.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte(strconv.Quote(strconv.FormatFloat(v, 'g', -1, 64))), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = jsonFloat(v)
	return nil
}

// Event kinds. Producers may use others; watch shows any kind.
const (
	EventStart           = "start"
	EventJoin            = "join"
	EventLeave           = "leave"
	EventFail            = "fail"
	EventRegroup         = "regroup"
	EventCheckpoint      = "checkpoint"
	EventStop            = "stop"
	EventFinish          = "finish"
	EventCommandAccepted = "command_accepted"
	EventCommandRefused  = "command_refused"
)

// Event is something that happened to a job.
type Event struct {
	Job        string            `json:"job"`
	Kind       string            `json:"kind"`
	Rank       int               `json:"rank"` // -1 when the event is about no rank
	Generation uint64            `json:"generation,omitempty"`
	World      int               `json:"world,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Step       int               `json:"step,omitempty"`
	Time       time.Time         `json:"time"`
	Detail     map[string]string `json:"detail,omitempty"`
}

// Command kinds.
const (
	CommandCheckpoint = "checkpoint" // write a checkpoint at the next step boundary
	CommandStop       = "stop"       // checkpoint and stop cleanly
)

func validCommandKind(k string) bool { return k == CommandCheckpoint || k == CommandStop }

// Command is an operator's request to a job. MAC authenticates every other
// field (see auth.go).
type Command struct {
	Job    string    `json:"job"`
	Kind   string    `json:"kind"`
	Issued time.Time `json:"issued"`
	Nonce  string    `json:"nonce"`
	From   string    `json:"from,omitempty"`
	MAC    string    `json:"mac,omitempty"`
}
