package digitcheck

import (
	"math"
	"sync"
	"testing"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/tensor"
)

var (
	once       sync.Once
	clf        *Classifier
	testDigits *data.InMemory
	setupErr   error
)

// classifier trains the classifier once for all tests (about 10 s).
func classifier(t *testing.T) (*Classifier, *data.InMemory) {
	t.Helper()
	once.Do(func() {
		var train *data.InMemory
		if train, setupErr = data.LoadMNIST("", true); setupErr != nil {
			return
		}
		if testDigits, setupErr = data.LoadMNIST("", false); setupErr != nil {
			return
		}
		clf, setupErr = Train(train, TrainOptions{})
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return clf, testDigits
}

// TestAccuracy: the classifier is a competent judge of digits: above 97% on
// MNIST's test set (a 784-256-10 MLP reaches about 98%).
func TestAccuracy(t *testing.T) {
	c, test := classifier(t)
	if acc := c.Accuracy(test); acc < 0.97 {
		t.Fatalf("test accuracy %.4f, want >= 0.97", acc)
	} else {
		t.Logf("test accuracy %.4f", acc)
	}
}

// TestRealDigitsPass: every window of 64 consecutive test digits, padded to
// 32x32 as the main job sees them, passes.
func TestRealDigitsPass(t *testing.T) {
	c, test := classifier(t)
	padded := pad32(test.Values())
	worst := 1.0
	for lo := 0; lo+64 <= 2000; lo += 64 {
		imgs, err := Fit(padded[lo*32*32:(lo+64)*32*32], []int{64, 1, 32, 32})
		if err != nil {
			t.Fatal(err)
		}
		r := c.Check(imgs)
		if !r.Pass {
			t.Errorf("test digits %d..%d fail: %v", lo, lo+63, r)
		}
		worst = min(worst, r.Confident)
	}
	t.Logf("lowest confident fraction over 31 windows of real digits: %.3f", worst)
}

// TestBlurredDigitsPass: the judge asks for recognisable digits, not crisp
// ones: real test digits blurred by a Gaussian of 1 pixel (softer than any
// sample we judge) still pass, with a confident fraction near the sharp
// digits' (0.88 against 0.94 when written).
func TestBlurredDigitsPass(t *testing.T) {
	c, test := classifier(t)
	sharp := c.Check(test.Values()[:1024*Side*Side])
	soft := c.Check(gaussianBlur(test.Values()[:1024*Side*Side], 1))
	if !soft.Pass || soft.Confident < sharp.Confident-0.1 {
		t.Fatalf("blurred real digits: %v (sharp: %v)", soft, sharp)
	}
	t.Logf("sharp %.3f, blurred %.3f confident", sharp.Confident, soft.Confident)
}

// gaussianBlur blurs 28x28 images with a separable 5-tap Gaussian of std s.
func gaussianBlur(v []float32, s float64) []float32 {
	var k [5]float64
	sum := 0.0
	for i := range k {
		d := float64(i - 2)
		k[i] = math.Exp(-d * d / (2 * s * s))
		sum += k[i]
	}
	pass := func(src []float32, dy, dx int) []float32 {
		out := make([]float32, len(src))
		for i := range len(src) / (Side * Side) {
			for y := range Side {
				for x := range Side {
					a := 0.0
					for j := -2; j <= 2; j++ {
						yy, xx := y+j*dy, x+j*dx
						if yy >= 0 && yy < Side && xx >= 0 && xx < Side {
							a += k[j+2] / sum * float64(src[(i*Side+yy)*Side+xx])
						}
					}
					out[(i*Side+y)*Side+x] = float32(a)
				}
			}
		}
		return out
	}
	return pass(pass(v, 0, 1), 1, 0)
}

// TestNonDigitsFail: noise, blank images, smooth blobs, stripes and one
// digit repeated do not pass.
func TestNonDigitsFail(t *testing.T) {
	c, test := classifier(t)
	rng := tensor.NewRNG(5)
	const n = 64
	sets := map[string][]float32{
		"uniform noise": fill(n, func(i, y, x int) float32 { return float32(rng.Float64()) }),
		"sparse noise": fill(n, func(i, y, x int) float32 {
			if rng.Float64() < 0.1 {
				return 1
			}
			return 0
		}),
		"blank":      fill(n, func(i, y, x int) float32 { return 0 }),
		"grey":       fill(n, func(i, y, x int) float32 { return 0.5 }),
		"blobs":      fill(n, func(i, y, x int) float32 { return blob(i, y, x) }),
		"diagonals":  fill(n, func(i, y, x int) float32 { return float32(0.5 + 0.5*math.Sin(float64(x+y+i%3)*0.9)) }),
		"one digit":  repeat(test.Values()[:Side*Side], n),
		"mean digit": repeat(mean(test.Values()), n),
	}
	for name, imgs := range sets {
		if r := c.Check(imgs); r.Pass {
			t.Errorf("%s passes: %v", name, r)
		} else {
			t.Logf("%s: %v", name, r)
		}
	}
}

func TestFit(t *testing.T) {
	// A 30x30 image with a marked centre pixel lands at the centre.
	img := make([]float32, 30*30)
	img[15*30+15] = 1
	out, err := Fit(img, []int{1, 900})
	if err != nil || out[14*Side+14] != 1 {
		t.Fatalf("crop: err %v, centre %v", err, out[14*Side+14])
	}
	small := make([]float32, 26*26)
	small[0] = 1
	out, err = Fit(small, []int{1, 1, 26, 26})
	if err != nil || out[1*Side+1] != 1 || out[0] != 0 {
		t.Fatalf("pad: err %v", err)
	}
	for _, shape := range [][]int{{2, 3, 32, 32}, {2, 30}, {0, 784}, {2, 28, 28}} {
		if _, err := Fit(make([]float32, 2*3*32*32), shape); err == nil {
			t.Errorf("shape %v accepted", shape)
		}
	}
}

func pad32(v []float32) []float32 {
	n := len(v) / (Side * Side)
	out := make([]float32, n*32*32)
	for i := range n {
		for y := range Side {
			copy(out[(i*32+y+2)*32+2:(i*32+y+2)*32+2+Side], v[(i*Side+y)*Side:(i*Side+y+1)*Side])
		}
	}
	return out
}

func fill(n int, f func(i, y, x int) float32) []float32 {
	out := make([]float32, n*Side*Side)
	for i := range n {
		for y := range Side {
			for x := range Side {
				out[(i*Side+y)*Side+x] = f(i, y, x)
			}
		}
	}
	return out
}

func blob(i, y, x int) float32 {
	cy, cx := 10+float64(i%8), 10+float64(i/8)
	d2 := (float64(y)-cy)*(float64(y)-cy) + (float64(x)-cx)*(float64(x)-cx)
	return float32(math.Exp(-d2 / 20))
}

func repeat(img []float32, n int) []float32 {
	out := make([]float32, 0, n*len(img))
	for range n {
		out = append(out, img...)
	}
	return out
}

func mean(v []float32) []float32 {
	n := len(v) / (Side * Side)
	out := make([]float32, Side*Side)
	for i, x := range v {
		out[i%(Side*Side)] += x / float32(n)
	}
	return out
}
