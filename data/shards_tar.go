package data

// Reading tar shards in the WebDataset convention: members named
// key.ext, the members of one record (sample) adjacent and sharing the key.

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// ShardRecord is one sample of a shard: the members sharing a key.
type ShardRecord struct {
	Key   string
	Image []byte // the .jpg/.jpeg/.png member
	Ext   string // the image member's extension ("jpg", "png", ...)
	Label int    // from the .cls member; -1 without one
	JSON  []byte // the .json member, if any
	// Err is why the record cannot be used (no image, two images, a bad
	// .cls, an unknown member); such a record still occupies its position.
	Err error
}

// shardRecords iterates over the records of one tar stream in order.
//
// A record ends where the next key starts or the archive ends; an archive
// that ends mid-member (truncated) or has a corrupt header yields that error
// from next, after the records before it, and nothing more. With skipData
// the member bytes are read and discarded (counting records, skipping to a
// position) rather than kept.
type shardRecords struct {
	tr      *tar.Reader
	pending *tar.Header // first header of the next record
	done    bool
}

func newShardRecords(r io.Reader) *shardRecords {
	return &shardRecords{tr: tar.NewReader(r)}
}

// next returns the next record, io.EOF at the clean end of the archive, or
// the error that stopped it (the partial record is dropped).
func (s *shardRecords) next(skipData bool) (ShardRecord, error) {
	if s.done {
		return ShardRecord{}, io.EOF
	}
	rec := ShardRecord{Label: -1}
	for {
		h := s.pending
		s.pending = nil
		if h == nil {
			var err error
			h, err = s.tr.Next()
			if err == io.EOF && rec.Key != "" {
				s.done = true
				rec.finish(skipData)
				return rec, nil
			}
			if err != nil {
				s.done = true
				return ShardRecord{}, err
			}
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue // directories and links carry no sample data
		}
		key, ext := splitShardName(h.Name)
		if rec.Key != "" && key != rec.Key {
			s.pending = h
			rec.finish(skipData)
			return rec, nil
		}
		rec.Key = key
		if err := s.member(&rec, h, ext, skipData); err != nil {
			s.done = true
			return ShardRecord{}, err
		}
	}
}

// member reads one member's bytes into rec. Only read errors are returned;
// problems with the content become rec.Err.
func (s *shardRecords) member(rec *ShardRecord, h *tar.Header, ext string, skipData bool) error {
	if skipData {
		_, err := io.Copy(io.Discard, s.tr) // reading, not seeking: a truncated member must show
		return unexpectedEOF(err)
	}
	if h.Size > 1<<30 {
		return fmt.Errorf("member %s of %d bytes is larger than 1 GiB", h.Name, h.Size)
	}
	buf := make([]byte, h.Size)
	if _, err := io.ReadFull(s.tr, buf); err != nil {
		return unexpectedEOF(err)
	}
	var bad error
	switch ext {
	case "jpg", "jpeg", "png":
		if rec.Image != nil {
			bad = fmt.Errorf("two images (%s and %s)", rec.Ext, ext)
		}
		rec.Image, rec.Ext = buf, ext
	case "cls":
		n, err := strconv.Atoi(strings.TrimSpace(string(buf)))
		if err != nil || n < 0 {
			bad = fmt.Errorf("class %q is not a non-negative integer", buf)
		}
		rec.Label = n
	case "json":
		rec.JSON = buf
	default:
		bad = fmt.Errorf("unknown member %s", h.Name)
	}
	if rec.Err == nil {
		rec.Err = bad
	}
	return nil
}

// finish reports a record that lacks an image.
func (rec *ShardRecord) finish(skipData bool) {
	if !skipData && rec.Err == nil && rec.Image == nil {
		rec.Err = errors.New("no .jpg, .jpeg or .png member")
	}
}

// splitShardName splits a member name at the first dot of its base name, as
// WebDataset does: "a/b.seg.jpg" is key "a/b", extension "seg.jpg".
func splitShardName(name string) (key, ext string) {
	dir, base := path.Split(name)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		return dir + base[:i], strings.ToLower(base[i+1:])
	}
	return name, ""
}

// unexpectedEOF turns a short read into io.ErrUnexpectedEOF so that a
// truncated member never reads as the clean end of a shard.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
