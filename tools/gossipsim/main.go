// Command gossipsim estimates how often memberlist's gossip fails to bring
// an update to every member, by Monte Carlo of its broadcast rule: a node
// that holds an update sends it RetransmitMult·⌈log10(n+1)⌉ times in all,
// to GossipNodes random peers a round, and a node that receives it for the
// first time starts sending it too. It explains why a rendezvous of 8
// members lost a readiness update about a third of the time
// (docs/scaling.md, "The control plane at scale").
//
//	go run ./tools/gossipsim -n 8,16,64 -mult 4
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

func main() {
	sizes := flag.String("n", "4,8,16,32,64,128", "cluster sizes")
	mult := flag.Int("mult", 4, "memberlist RetransmitMult (LAN default 4)")
	fan := flag.Int("fan", 3, "memberlist GossipNodes: peers gossiped to a round")
	trials := flag.Int("trials", 20000, "updates simulated per size")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	rng := rand.New(rand.NewPCG(*seed, 0))
	fmt.Printf("%6s %6s %14s %22s\n", "n", "limit", "P(update lost)", "P(n updates, one lost)")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "gossipsim: bad size %q\n", s)
			os.Exit(2)
		}
		limit := *mult * int(math.Ceil(math.Log10(float64(n+1))))
		lost := 0
		for range *trials {
			if spread(rng, n, limit, *fan) < n {
				lost++
			}
		}
		p := float64(lost) / float64(*trials)
		fmt.Printf("%6d %6d %14.4f %22.3f\n", n, limit, p, 1-math.Pow(1-p, float64(n)))
	}
}

// spread runs one update from node 0 until no node has transmissions
// left and returns how many nodes received it.
func spread(rng *rand.Rand, n, limit, fan int) int {
	sent := make([]int, n) // transmissions made; -1: has not received
	for i := range sent {
		sent[i] = -1
	}
	sent[0] = 0
	have := 1
	for {
		var fresh []int
		active := false
		for v := range n {
			if sent[v] < 0 || sent[v] >= limit {
				continue
			}
			active = true
			for _, u := range peers(rng, n, v, fan) {
				if sent[v] >= limit {
					break
				}
				sent[v]++
				if sent[u] < 0 {
					fresh = append(fresh, u)
				}
			}
		}
		if !active {
			return have
		}
		for _, u := range fresh { // they start sending next round
			if sent[u] < 0 {
				sent[u] = 0
				have++
			}
		}
	}
}

// peers picks k distinct nodes other than v.
func peers(rng *rand.Rand, n, v, k int) []int {
	perm := rng.Perm(n - 1)
	out := make([]int, 0, k)
	for _, p := range perm[:min(k, n-1)] {
		if p >= v {
			p++
		}
		out = append(out, p)
	}
	return out
}
