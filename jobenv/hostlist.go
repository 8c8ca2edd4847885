package jobenv

import (
	"errors"
	"fmt"
	"strings"
)

// firstHost returns the first host of a Slurm hostlist expression, as
// `scontrol show hostnames` would list it first: "gpu[07-08,11],cpu1"
// gives gpu07 and "rack[1-2]-n[001-004]" gives rack1-n001. Each bracket
// stands for its first number, zero padding kept.
func firstHost(list string) (string, error) {
	entry, err := firstEntry(strings.TrimSpace(list))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for entry != "" {
		open := strings.IndexByte(entry, '[')
		if open < 0 {
			b.WriteString(entry)
			break
		}
		end := strings.IndexByte(entry, ']')
		if end < open {
			return "", errors.New("unbalanced brackets")
		}
		first, _, _ := strings.Cut(entry[open+1:end], ",")
		first, _, _ = strings.Cut(first, "-")
		if first == "" || strings.Trim(first, "0123456789") != "" {
			return "", fmt.Errorf("bracket [%s] does not start with a number", entry[open+1:end])
		}
		b.WriteString(entry[:open])
		b.WriteString(first)
		entry = entry[end+1:]
	}
	if b.Len() == 0 {
		return "", errors.New("no host")
	}
	return b.String(), nil
}

// firstEntry returns list up to its first comma outside brackets.
func firstEntry(list string) (string, error) {
	depth := 0
	for i, c := range list {
		switch c {
		case '[':
			depth++
			if depth > 1 {
				return "", errors.New("nested brackets")
			}
		case ']':
			depth--
			if depth < 0 {
				return "", errors.New("unbalanced brackets")
			}
		case ',':
			if depth == 0 {
				return list[:i], nil
			}
		}
	}
	if depth != 0 {
		return "", errors.New("unbalanced brackets")
	}
	return list, nil
}
