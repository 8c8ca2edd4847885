package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OpenOptions tune Open.
type OpenOptions struct {
	// DataDir overrides where a named dataset is read from (MNIST: the
	// GoMNIST module; Fashion-MNIST: /usr/share/datasets/fashion-mnist; UCI:
	// ../shared/data/uci; CIFAR-10: required).
	DataDir string
	Seed    uint64             // UCI noise and dequantisation, toy samples
	Image   ImageFolderOptions // image folders
	ToySize int                // samples of a toy density; default 10000
}

// Names lists the dataset names Open accepts (besides paths).
func Names() []string {
	ns := []string{"mnist", "mnist-test", "fashion-mnist", "fashion-mnist-test", "cifar10", "cifar10-test"}
	for _, u := range UCINames() {
		ns = append(ns, u, u+"-val", u+"-test")
	}
	for _, t := range ToyNames() {
		ns = append(ns, "toy:"+t)
	}
	return ns
}

// Open resolves a dataset name (see Names) or a path: a directory of images
// (optionally in class subfolders), a directory of CIFAR-10 binary batches,
// an SVHN .mat file, or an IDX image file (its labels file is looked up
// beside it).
func Open(nameOrPath string, o OpenOptions) (Dataset, error) {
	name := strings.ToLower(nameOrPath)
	switch name {
	case "mnist", "mnist-test":
		return LoadMNIST(o.DataDir, name == "mnist")
	case "fashion-mnist", "fashion-mnist-test":
		return LoadFashionMNIST(o.DataDir, name == "fashion-mnist")
	case "cifar10", "cifar10-test":
		if o.DataDir == "" {
			return nil, fmt.Errorf("cifar10 is not shipped here: give its directory of binary batches with --data-dir")
		}
		return LoadCIFAR10(o.DataDir, name == "cifar10")
	}
	for _, u := range UCINames() {
		if name == u || name == u+"-val" || name == u+"-test" {
			dir := o.DataDir
			if dir == "" {
				dir = filepath.Join("..", "shared", "data", "uci")
			}
			s, err := LoadUCI(u, dir, o.Seed)
			if err != nil {
				return nil, err
			}
			switch {
			case strings.HasSuffix(name, "-val"):
				return s.Val, nil
			case strings.HasSuffix(name, "-test"):
				return s.Test, nil
			}
			return s.Train, nil
		}
	}
	if t, ok := strings.CutPrefix(name, "toy:"); ok {
		d, err := Toy(t)
		if err != nil {
			return nil, err
		}
		n := o.ToySize
		if n <= 0 {
			n = 10000
		}
		return ToyDataset(d, n, o.Seed)
	}
	st, err := os.Stat(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a dataset (%s) nor a readable path: %v", nameOrPath, strings.Join(Names(), ", "), err)
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(nameOrPath, "data_batch_1.bin")); err == nil {
			return LoadCIFAR10(nameOrPath, true)
		}
		if _, err := os.Stat(filepath.Join(nameOrPath, "test_batch.bin")); err == nil {
			return LoadCIFAR10(nameOrPath, false)
		}
		f, err := OpenImageFolder(nameOrPath, o.Image)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	switch {
	case strings.HasSuffix(name, ".mat"):
		return LoadSVHN(nameOrPath)
	case strings.Contains(name, "images") && (strings.Contains(name, "idx") || strings.HasSuffix(name, ".gz")):
		labels := strings.Replace(nameOrPath, "images", "labels", 1)
		labels = strings.Replace(labels, "idx3", "idx1", 1)
		return LoadIDXImages(nameOrPath, labels, filepath.Base(nameOrPath))
	}
	return nil, fmt.Errorf("%s: unknown file type (want a directory of images or CIFAR-10 batches, an SVHN .mat file or an IDX images file)", nameOrPath)
}
