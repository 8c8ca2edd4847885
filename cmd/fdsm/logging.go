package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/progress"
)

// logOptions holds the values of the persistent --log-* flags.
type logOptions struct {
	level  string
	format string
}

// logLevelNames lists the accepted --log-level values, most verbose first.
var logLevelNames = []string{"trace", "debug", "info", "warn", "error"}

var logLevels = map[string]zerolog.Level{
	"trace": zerolog.TraceLevel,
	"debug": zerolog.DebugLevel,
	"info":  zerolog.InfoLevel,
	"warn":  zerolog.WarnLevel,
	"error": zerolog.ErrorLevel,
}

var logFormatNames = []string{"auto", "json", "console"}

// logTimeFormat is RFC 3339 with milliseconds.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// current is the process logger; until setupLogger runs it writes JSON at
// info level to stderr.
var current atomic.Pointer[zerolog.Logger]

func init() {
	l := zerolog.New(os.Stderr).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	current.Store(&l)
}

// logger returns the logger configured from --log-level and --log-format, for
// subcommands to call from their Run functions: logger().Info().Msg("...").
// Each call returns a fresh copy, so callers may derive child loggers
// (logger().With()...) without affecting anyone else.
func logger() *zerolog.Logger {
	l := *current.Load()
	return &l
}

// setupLogger validates the log options and installs a logger writing to w.
func setupLogger(w io.Writer, o logOptions) error {
	lvl, ok := logLevels[strings.ToLower(o.level)]
	if !ok {
		return fmt.Errorf("invalid --log-level %q: valid levels are %s", o.level, joinNames(logLevelNames))
	}

	tty := isTerminal(w)
	term := progress.NewTerminal(w)
	w = term // logs and progress lines share stderr without garbling it
	var out io.Writer
	switch strings.ToLower(o.format) {
	case "json":
		out = w
	case "console":
		out = consoleWriter(w, !tty)
	case "auto":
		if tty {
			out = consoleWriter(w, false)
		} else {
			out = w
		}
	default:
		return fmt.Errorf("invalid --log-format %q: valid formats are %s", o.format, joinNames(logFormatNames))
	}

	zerolog.TimeFieldFormat = logTimeFormat
	l := zerolog.New(out).Level(lvl).With().Timestamp().Logger()
	current.Store(&l)
	console.Store(term)
	return nil
}

// console is stderr as the logger writes it; progress lines drawn on it
// keep clear of log lines.
var console atomic.Pointer[progress.Terminal]

// stderrFor returns the shared console when the logger writes to w's
// command (it does once setupLogger ran), else w.
func stderrFor(w io.Writer) io.Writer {
	if t := console.Load(); t != nil {
		return t
	}
	return w
}

func consoleWriter(w io.Writer, noColor bool) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: w, NoColor: noColor, TimeFormat: "15:04:05.000"}
}

// isTerminal reports whether w is a terminal (including Cygwin/MSYS ptys).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

func joinNames(names []string) string {
	return strings.Join(names, "|")
}
