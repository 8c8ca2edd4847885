package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// OpenOptions tune Open.
type OpenOptions struct {
	// DataDir overrides where a named dataset is read from (MNIST: the
	// GoMNIST module; Fashion-MNIST: /usr/share/datasets/fashion-mnist; UCI:
	// the copies bundled with fdsm; CIFAR-10: required).
	DataDir string
	// DirHint says how the caller's user sets DataDir (e.g. "--data-dir DIR"),
	// for the advice in a DirError; empty: none. The data package knows no
	// command's flags.
	DirHint string
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
		return openCIFAR10(name, o)
	}
	for _, u := range UCINames() {
		if name == u || name == u+"-val" || name == u+"-test" {
			s, err := LoadUCI(u, o.DataDir, o.Seed)
			if err != nil {
				return nil, withHint(err, o.DirHint)
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

// cifarWant describes the files of CIFAR-10's directory, for errors.
const cifarWant = "the CIFAR-10 binary batches (data_batch_1.bin … data_batch_5.bin, test_batch.bin)"

// CheckDir returns the error Open would give, without reading anything,
// when name is a dataset fdsm neither ships nor finds in a standard place
// and o names no directory for it; nil otherwise. Commands use it to reject
// such a config before they start work.
func CheckDir(name string, o OpenOptions) error {
	n := strings.ToLower(name)
	if (n == "cifar10" || n == "cifar10-test") && o.DataDir == "" {
		return &DirError{Dataset: n, Want: cifarWant, Hint: o.DirHint}
	}
	return nil
}

func openCIFAR10(name string, o OpenOptions) (Dataset, error) {
	if err := CheckDir(name, o); err != nil {
		return nil, err
	}
	d, err := LoadCIFAR10(o.DataDir, name == "cifar10")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &DirError{Dataset: name, Dir: o.DataDir, Want: cifarWant, Hint: o.DirHint, Err: err}
	}
	return d, err
}

// DirError reports a named dataset whose directory was not given or lacks
// its files. It names the dataset, the directory and the files wanted; the
// advice on how to give a directory comes from the caller (Hint), since
// only the caller knows its own flags.
type DirError struct {
	Dataset string // as given to Open
	Dir     string // the directory looked in; "" when none was given
	Want    string // the files the directory must hold, for people
	Hint    string // how to set the directory (OpenOptions.DirHint); may be ""
	Err     error  // the underlying error, if any
}

func (e *DirError) Error() string {
	var b strings.Builder
	if e.Dir == "" {
		fmt.Fprintf(&b, "%s is not shipped with fdsm and no directory was given for it: it needs a directory holding %s", e.Dataset, e.Want)
	} else {
		fmt.Fprintf(&b, "%s: directory %s does not hold %s", e.Dataset, e.Dir, e.Want)
		if e.Err != nil {
			fmt.Fprintf(&b, " (%v)", e.Err)
		}
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; set the directory with %s", e.Hint)
	}
	return b.String()
}

func (e *DirError) Unwrap() error { return e.Err }

// withHint adds the caller's advice to a DirError that lacks it.
func withHint(err error, hint string) error {
	var de *DirError
	if hint != "" && errors.As(err, &de) && de.Hint == "" {
		c := *de
		c.Hint = hint
		return &c
	}
	return err
}
