package data

import "github.com/fdsm-go/fdsm/tensor"

// shardTransformer applies the loader's transforms to the samples one
// decoding goroutine decodes: it decodes into a buffer of the decoded
// shape and runs the chain from there into the batch. A record's random
// transforms draw from a generator seeded by (seed, epoch, shard, key), so
// they do not depend on which goroutine or batch it lands in, and a
// resumed epoch transforms every record as the uninterrupted one did.
//
// Threading: one decoding goroutine each.
type shardTransformer struct {
	l         *ShardLoader
	epochSeed uint64
	raw       []float32
	bufs      [2][]float32
	rng       *tensor.RNG
}

// shardTransformSalt keeps the transforms' generators apart from the
// sampler's, which derive from the same seed.
const shardTransformSalt = 0x7a3f0c5e9b1d2486

func newShardTransformer(l *ShardLoader, epoch int) *shardTransformer {
	n := l.chain.scratch()
	return &shardTransformer{l: l, epochSeed: mixSeeds(l.sampler.Seed^shardTransformSalt, uint64(epoch)),
		raw: make([]float32, l.chain.numels[0]), bufs: [2][]float32{make([]float32, n), make([]float32, n)},
		rng: tensor.NewRNG(0)}
}

// decode decodes j's image and writes its transformed sample into dst.
func (t *shardTransformer) decode(d *JPEGDecoder, j decodeJob, dst []float32) error {
	if err := d.Decode(j.rec.Image, t.raw); err != nil {
		return err
	}
	t.rng.Reseed(mixSeeds(mixSeeds(t.epochSeed, uint64(j.shard)), keyHash(j.rec.Key)))
	t.l.chain.run(dst, t.raw, &t.bufs, t.rng)
	return nil
}

// keyHash is FNV-1a of a record's key, without the allocations of
// hash/fnv on every sample.
func keyHash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	return h
}
