package jobenv

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Lookup reads one variable, as os.LookupEnv does. An empty value counts as
// unset everywhere in this package: a pod spec or a script that clears a
// variable by setting it empty means "not given".
type Lookup func(name string) (string, bool)

// OS reads the process's environment.
func OS() Lookup { return os.LookupEnv }

// List reads a KEY=VALUE list such as exec.Cmd.Env; the last entry of a key
// wins, as in exec.
func List(env []string) Lookup {
	return func(name string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

// reader reads variables and collects every problem, so that one error
// names all the variables at fault.
type reader struct {
	env  Lookup
	errs []string
}

// str returns name's value, and whether it is set and not empty.
func (r *reader) str(name string) (string, bool) {
	v, ok := r.env(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// has reports whether name is set and not empty.
func (r *reader) has(name string) bool {
	_, ok := r.str(name)
	return ok
}

// num returns name's integer value when it is set; a value that is not an
// integer of at least lowest is an error naming the variable and what it
// should be ("a node rank").
func (r *reader) num(name, what string, lowest int) (int, bool) {
	v, ok := r.str(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest {
		r.fail("%s=%q is not %s (an integer of at least %d)", name, v, what, lowest)
		return 0, false
	}
	return n, true
}

// port returns name's value as a TCP port.
func (r *reader) port(name string) (int, bool) {
	p, ok := r.num(name, "a port", 1)
	if ok && p > 65535 {
		r.fail("%s=%d is not a port (1..65535)", name, p)
		return 0, false
	}
	return p, ok
}

func (r *reader) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// err joins the problems found, or returns nil.
func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(r.errs, "; "))
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
