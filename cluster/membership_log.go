package cluster

import (
	"bytes"
	"log"

	"github.com/rs/zerolog"
)

// newMemberlistLogger routes memberlist's "[LEVEL] memberlist: text" lines
// to zerolog at the matching level.
func newMemberlistLogger(l zerolog.Logger) *log.Logger {
	return log.New(memberlistLogWriter{l}, "", 0)
}

type memberlistLogWriter struct{ l zerolog.Logger }

func (w memberlistLogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := zerolog.InfoLevel
	for _, t := range []struct {
		tag   string
		level zerolog.Level
	}{
		{"[DEBUG]", zerolog.DebugLevel},
		{"[INFO]", zerolog.InfoLevel},
		{"[WARN]", zerolog.WarnLevel},
		{"[ERR]", zerolog.ErrorLevel},
	} {
		if rest, ok := bytes.CutPrefix(line, []byte(t.tag)); ok {
			level, line = t.level, bytes.TrimSpace(rest)
			break
		}
	}
	w.l.WithLevel(level).Msg(string(line))
	return len(p), nil
}
