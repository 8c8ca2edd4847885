package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// cifarRecord is the size of one CIFAR-10 binary record: a label byte, then
// 32x32 red, green and blue planes, each row-major.
const cifarRecord = 1 + 3*32*32

// LoadCIFAR10 reads the CIFAR-10 binary version from dir (the
// cifar-10-batches-bin directory): data_batch_1.bin .. data_batch_5.bin for
// the training set, test_batch.bin for the test set. Samples have shape
// [3, 32, 32] with values in [0, 1]; labels are 0..9.
func LoadCIFAR10(dir string, train bool) (*InMemory, error) {
	files, name := []string{"test_batch.bin"}, "cifar10/test"
	if train {
		files, name = nil, "cifar10/train"
		for i := 1; i <= 5; i++ {
			files = append(files, fmt.Sprintf("data_batch_%d.bin", i))
		}
	}
	// Size everything first so a missing or odd-sized file fails before the
	// large allocation.
	paths := make([]string, len(files))
	total := 0
	for i, f := range files {
		paths[i] = filepath.Join(dir, f)
		st, err := os.Stat(paths[i])
		if err != nil {
			return nil, fmt.Errorf("CIFAR-10: %w", err)
		}
		if st.Size()%cifarRecord != 0 {
			return nil, fmt.Errorf("%s: size %d bytes is not a multiple of the %d-byte CIFAR-10 record", paths[i], st.Size(), cifarRecord)
		}
		total += int(st.Size() / cifarRecord)
	}
	values := make([]float32, 0, total*(cifarRecord-1))
	labels := make([]int, 0, total)
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(raw)%cifarRecord != 0 { // the file changed since the Stat
			return nil, fmt.Errorf("%s: size %d bytes is not a multiple of the %d-byte CIFAR-10 record", p, len(raw), cifarRecord)
		}
		for r := 0; r < len(raw)/cifarRecord; r++ {
			rec := raw[r*cifarRecord : (r+1)*cifarRecord]
			if rec[0] > 9 {
				return nil, fmt.Errorf("%s: record %d (byte offset %d): label %d not in 0..9", p, r, r*cifarRecord, rec[0])
			}
			labels = append(labels, int(rec[0]))
			// The planes are already in [C, H, W] row-major order.
			for _, b := range rec[1:] {
				values = append(values, float32(b)/255)
			}
		}
	}
	return NewInMemory(name, []int{3, 32, 32}, values, labels)
}
