package jobenv

import "strings"

// maxJobLen is the longest job id: it is part of gossip names and bus
// subjects.
const maxJobLen = 64

// jobFromName makes a job id of another launcher's run id or master
// address, which every member sees alike: characters a job id may not
// hold ([A-Za-z0-9_-] only) become '-', and it is cut to maxJobLen.
func jobFromName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b[:min(len(b), maxJobLen)]), "-")
}
