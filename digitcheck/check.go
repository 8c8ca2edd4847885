package digitcheck

import (
	"fmt"
	"strings"
)

// The pass thresholds. Real MNIST test digits score about 0.95 confident
// with all ten classes in any 64 of them (TestRealDigitsPass); the
// thresholds leave room for samples that are digits but less crisp, and
// reject noise, blank images and one repeated shape (TestNonDigitsFail).
const (
	// ConfidentAt is the class probability above which an image counts
	// as a confidently recognised digit.
	ConfidentAt = 0.9
	// PassConfident is the fraction of confident images a set needs.
	PassConfident = 0.6
	// PassClasses is the number of digits the confident images must cover.
	PassClasses = 8
	// MinImages is the smallest set judged: fewer cannot show coverage.
	MinImages = 50
)

// Report is what the classifier makes of a set of images.
type Report struct {
	N              int     `json:"n"`
	MeanConfidence float64 `json:"mean_confidence"` // mean of the top class probability
	Confident      float64 `json:"confident"`       // fraction with top probability >= ConfidentAt
	Classes        int     `json:"classes"`         // digits among the confident predictions
	Counts         [10]int `json:"counts"`          // confident predictions per digit
	Pass           bool    `json:"pass"`
}

// Check classifies images (flattened 28x28 in [0, 1]; see Fit) and judges
// them against the pass thresholds.
func (c *Classifier) Check(images []float32) Report {
	probs := c.Probabilities(images)
	r := Report{N: len(probs)}
	for _, p := range probs {
		k := argmax(p)
		r.MeanConfidence += p[k] / float64(r.N)
		if p[k] >= ConfidentAt {
			r.Confident += 1 / float64(r.N)
			r.Counts[k]++
		}
	}
	for _, n := range r.Counts {
		if n > 0 {
			r.Classes++
		}
	}
	r.Pass = r.N >= MinImages && r.Confident >= PassConfident && r.Classes >= PassClasses
	return r
}

func (r Report) String() string {
	verdict := "FAIL"
	if r.Pass {
		verdict = "pass"
	}
	counts := make([]string, 10)
	for i, n := range r.Counts {
		counts[i] = fmt.Sprintf("%d:%d", i, n)
	}
	return fmt.Sprintf("digits %s: %d images, %.0f%% confident (p >= %.2g; need %.0f%%), %d of 10 digits (need %d), mean confidence %.3f; per digit %s",
		verdict, r.N, 100*r.Confident, ConfidentAt, 100*PassConfident, r.Classes, PassClasses, r.MeanConfidence, strings.Join(counts, " "))
}

// Fit returns images of shape [N, 1, H, W] (or [N, H*W] with square H*W)
// as flattened 28x28 images: centre-cropped when larger (MNIST padded to
// 32x32 has a 2-pixel border), zero-padded when smaller.
func Fit(vals []float32, shape []int) ([]float32, error) {
	if len(shape) == 0 || shape[0] <= 0 {
		return nil, fmt.Errorf("digitcheck: no images (shape %v)", shape)
	}
	n, per := shape[0], len(vals)/shape[0]
	side := 0
	for side*side < per {
		side++
	}
	if side*side != per || (len(shape) == 4 && shape[1] != 1) || len(shape) == 3 || len(shape) > 4 {
		return nil, fmt.Errorf("digitcheck: want grey square images [N, 1, H, W] or [N, H*W], got %v", shape)
	}
	out := make([]float32, n*Side*Side)
	off := (side - Side) / 2 // source offset (negative: pad)
	for i := range n {
		for y := range Side {
			sy := y + off
			if sy < 0 || sy >= side {
				continue
			}
			for x := range Side {
				sx := x + off
				if sx < 0 || sx >= side {
					continue
				}
				out[(i*Side+y)*Side+x] = vals[i*per+sy*side+sx]
			}
		}
	}
	return out, nil
}
