package study

// Buckets returns the byte sizes of the gradient buckets the data-parallel
// reducer (trainer's newReducer) builds for parameters of the given sizes,
// in model order: walked in reverse, each bucket closed before a parameter
// that would take it past its limit (first for the first bucket, rest for
// the others); a parameter larger than the limit gets a bucket of its own.
// The result is in launch order, which is also the order backward makes the
// gradients final. Keep in step with the reducer.
func Buckets(paramBytes []int, first, rest int) []int {
	var out []int
	limit, cur := first, 0
	for i := len(paramBytes) - 1; i >= 0; i-- {
		b := paramBytes[i]
		if cur > 0 && cur+b > limit {
			out = append(out, cur)
			limit, cur = rest, 0
		}
		cur += b
	}
	if cur > 0 {
		out = append(out, cur)
	}
	return out
}
