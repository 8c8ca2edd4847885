package data

import "math"

// resizer maps interleaved RGB of w×h onto the S×S CHW square the image
// options describe (shorter side to S then centre crop, or centre square
// then scale), with a separable triangle filter whose support widens with
// the shrink factor, so shrinking averages rather than aliases. After the
// scaled decode the factor is below 2, so each output takes a few taps.
// Its buffers are reused from image to image.
type resizer struct {
	xs, ys taps
	tmp    []float32 // after the horizontal pass: [h][S][3]
}

// taps holds, per output index, the first source index and n weights.
type taps struct {
	first []int
	w     []float32
	n     int
}

// build fills t for out outputs, output i centred on source
// coordinate start + (i+0.5)·scale − 0.5. Taps falling outside the image
// are clamped onto its edge.
func (t *taps) build(out int, start, scale float64) {
	r := max(1, scale)
	t.n = int(math.Ceil(2*r)) + 1
	t.first = growInts(t.first, out)
	t.w = growFloats(t.w, out*t.n)
	for i := range out {
		u := start + (float64(i)+0.5)*scale - 0.5
		first := int(math.Ceil(u - r))
		t.first[i] = first
		ws := t.w[i*t.n : (i+1)*t.n]
		sum := float32(0)
		for k := range ws {
			ws[k] = float32(max(0, 1-math.Abs(float64(first+k)-u)/r))
			sum += ws[k]
		}
		for k := range ws {
			ws[k] /= sum
		}
	}
}

// at is the clamped source index of tap k of output i.
func (t *taps) at(i, k, src int) int { return min(max(t.first[i]+k, 0), src-1) }

// squareAxes gives each axis's start and scale (source pixels per output
// pixel) for the resize mode: "crop" takes the centre min(w, h) square;
// otherwise the shorter side is scaled to s, the longer truncated as
// torchvision does, and the centre s×s kept.
func squareAxes(w, h, s int, mode string) (x0, sx, y0, sy float64) {
	if mode == "crop" {
		m := min(w, h)
		sc := float64(m) / float64(s)
		return float64((w - m) / 2), sc, float64((h - m) / 2), sc
	}
	sw, sh := s, s
	if w < h {
		sh = max(s, h*s/w)
	} else {
		sw = max(s, w*s/h)
	}
	sx, sy = float64(w)/float64(sw), float64(h)/float64(sh)
	return float64((sw-s)/2) * sx, sx, float64((sh-s)/2) * sy, sy
}

// render resizes rgb (w×h) into dst as CHW float32 in [0, 1].
func (r *resizer) render(rgb []byte, w, h int, o ImageFolderOptions, dst []float32) {
	s := o.Size
	x0, sx, y0, sy := squareAxes(w, h, s, o.Resize)
	r.xs.build(s, x0, sx)
	r.ys.build(s, y0, sy)
	r.tmp = growFloats(r.tmp, h*s*3)
	for y := range h {
		row, out := rgb[3*y*w:3*(y+1)*w], r.tmp[3*y*s:3*(y+1)*s]
		for i := range s {
			var cr, cg, cb float32
			for k, wt := range r.xs.w[i*r.xs.n : (i+1)*r.xs.n] {
				p := 3 * r.xs.at(i, k, w)
				cr += wt * float32(row[p])
				cg += wt * float32(row[p+1])
				cb += wt * float32(row[p+2])
			}
			out[3*i], out[3*i+1], out[3*i+2] = cr, cg, cb
		}
	}
	n := s * s
	for j := range s {
		for i := range s {
			var cr, cg, cb float32
			for k, wt := range r.ys.w[j*r.ys.n : (j+1)*r.ys.n] {
				p := 3 * (r.ys.at(j, k, h)*s + i)
				cr += wt * r.tmp[p]
				cg += wt * r.tmp[p+1]
				cb += wt * r.tmp[p+2]
			}
			q := j*s + i
			if o.Channels == 1 {
				dst[q] = (0.299*cr + 0.587*cg + 0.114*cb) / 255
				continue
			}
			dst[q], dst[n+q], dst[2*n+q] = cr/255, cg/255, cb/255
		}
	}
}

func growInts(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}

func growFloats(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
