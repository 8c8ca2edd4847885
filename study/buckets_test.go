package study

import (
	"slices"
	"testing"
)

func TestBucketsReverseOrderAndLimits(t *testing.T) {
	for _, tc := range []struct {
		name        string
		params      []int
		first, rest int
		want        []int
	}{
		{"all in the first", []int{1, 2, 3}, 10, 100, []int{6}},
		// Reverse order: 5, then 4 (9 ≤ 10), then 3 would make 12 > 10.
		{"first closes", []int{1, 2, 3, 4, 5}, 10, 100, []int{9, 6}},
		{"rest limit", []int{8, 8, 8, 8, 1}, 1, 16, []int{1, 16, 16}},
		{"larger than the limit alone", []int{50, 1}, 10, 20, []int{1, 50}},
		{"none", nil, 10, 20, nil},
	} {
		if got := Buckets(tc.params, tc.first, tc.rest); !slices.Equal(got, tc.want) {
			t.Errorf("%s: buckets %v, want %v", tc.name, got, tc.want)
		}
	}
}
