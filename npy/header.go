package npy

import (
	"fmt"
	"strconv"
	"strings"
)

// The header is a Python literal dict. parseLiteral reads the subset of
// Python literal syntax that headers written by NumPy (any version, Python 2
// included) use: dicts, tuples, lists, quoted strings, integers (with the
// Python 2 "L" suffix), True, False and None. It never evaluates anything.

// tuple is a Python tuple; lists decode to []any, so the two stay apart
// (NumPy requires the shape to be a tuple).
type tuple []any

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 32

type litParser struct {
	s   string
	pos int
}

// parseLiteral parses s as one literal followed only by whitespace.
func parseLiteral(s string) (any, error) {
	p := &litParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return nil, p.errorf("unexpected %q after the dict", p.rest())
	}
	return v, nil
}

func (p *litParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// rest returns a short excerpt of the unparsed input for error messages.
func (p *litParser) rest() string {
	r := p.s[p.pos:]
	if len(r) > 20 {
		r = r[:20] + "..."
	}
	return r
}

func (p *litParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *litParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.dict(depth)
	case c == '(':
		items, n, err := p.sequence(')', depth)
		if err != nil {
			return nil, err
		}
		// (x) without a comma is a parenthesised value, not a tuple.
		if len(items) == 1 && n == 0 {
			return items[0], nil
		}
		return tuple(items), nil
	case c == '[':
		items, _, err := p.sequence(']', depth)
		return items, err
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.integer()
	default:
		for _, w := range []struct {
			word string
			v    any
		}{{"True", true}, {"False", false}, {"None", nil}} {
			if strings.HasPrefix(p.s[p.pos:], w.word) {
				p.pos += len(w.word)
				return w.v, nil
			}
		}
		return nil, p.errorf("unexpected %q", p.rest())
	}
}

// sequence reads items up to the closing byte; it also returns the number
// of commas, which tells a one-tuple from a parenthesised value.
func (p *litParser) sequence(end byte, depth int) ([]any, int, error) {
	p.pos++ // opening bracket
	var items []any
	commas := 0
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == end {
			p.pos++
			return items, commas, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, 0, err
		}
		items = append(items, v)
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, 0, p.errorf("missing %q", string(end))
		}
		if p.s[p.pos] == ',' {
			p.pos++
			commas++
		} else if p.s[p.pos] != end {
			return nil, 0, p.errorf("expected ',' or %q, found %q", string(end), p.rest())
		}
	}
}

func (p *litParser) dict(depth int) (map[string]any, error) {
	p.pos++ // {
	d := map[string]any{}
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dict key %v is not a string", k)
		}
		if _, dup := d[key]; dup {
			return nil, p.errorf("key %q given twice", key)
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		if d[key], err = p.value(depth + 1); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, p.errorf("missing '}'")
		}
		if p.s[p.pos] == ',' {
			p.pos++
		} else if p.s[p.pos] != '}' {
			return nil, p.errorf("expected ',' or '}', found %q", p.rest())
		}
	}
}

// str reads a quoted string. Escapes are kept simple: a backslash takes
// the next byte literally (enough for quotes and backslashes; descr
// strings of the dtypes this package reads never contain escapes).
func (p *litParser) str() (string, error) {
	q := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.pos >= len(p.s) {
				return "", p.errorf("unterminated string")
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		case '\n':
			return "", p.errorf("newline inside a string")
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *litParser) integer() (int64, error) {
	start := p.pos
	if c := p.s[p.pos]; c == '-' || c == '+' {
		p.pos++
	}
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	text := p.s[start:p.pos]
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++ // Python 2 long
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		p.pos = start
		return 0, p.errorf("bad integer %q", p.rest())
	}
	return v, nil
}
