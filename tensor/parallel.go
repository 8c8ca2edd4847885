package tensor

import (
	"runtime"
	"sync"
)

// parallelGrain is the smallest amount of elementwise work worth a goroutine:
// below it the scheduling costs more than the loop.
const parallelGrain = 1 << 15

// parallelFor runs body over [0, n) in contiguous chunks spread across
// GOMAXPROCS goroutines when n*cost is large; cost is the relative work per
// index (1 for a cheap elementwise op). The calling goroutine takes a chunk.
func parallelFor(n, cost int, body func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if cost < 1 {
		cost = 1
	}
	if w := n * cost / parallelGrain; w < workers {
		workers = w
	}
	if workers <= 1 {
		body(0, n)
		return
	}
	runChunks(n, (n+workers-1)/workers, body)
}

// runChunks runs body on [0, n) in chunks of the given size, one goroutine
// per chunk and the first on the calling goroutine, and waits for all.
func runChunks(n, chunk int, body func(lo, hi int)) {
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			body(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	body(0, min(chunk, n))
	wg.Wait()
}
