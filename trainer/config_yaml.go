package trainer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseConfigYAML decodes a config file's text into its top-level section.
// An empty file is an empty section.
func parseConfigYAML(b []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, yamlError(b, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the file holds %s, not a section of key: value lines", formatValue(v))
	}
	return m, nil
}

// yamlParserProblems are the messages of go.yaml.in/yaml/v3's parser (as
// opposed to its scanner). For these the library reports a 0-based line
// (decode.go, parser.fail adds 1 for scanner errors only), and no line at
// all for line 1; yamlError corrects them.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlTabProblem is reported at the start of the plain scalar that runs
// into the tab, often the line before the tab; yamlError moves it to the
// tab.
const yamlTabProblem = "found a tab character that violates indentation"

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlError rewrites a YAML error so that it names the right line and
// quotes it.
func yamlError(src []byte, err error) error {
	lines := strings.Split(string(src), "\n")
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// Decoding errors (a duplicate key) carry exact lines already.
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			line, problem := splitYAMLLine(e)
			msgs[i] = yamlAt(lines, line, problem)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	line, problem := splitYAMLLine(strings.TrimPrefix(err.Error(), "yaml: "))
	if slices.Contains(yamlParserProblems, problem) {
		line++ // 0-based, and 0 (line 1) left out
	}
	if problem == yamlTabProblem {
		line = firstTabIndent(lines, line)
	}
	// A construct left open is found at the end of the file: show the last
	// line that has something on it.
	for line > 1 && (line > len(lines) || strings.TrimSpace(lines[line-1]) == "") {
		line--
	}
	return errors.New(yamlAt(lines, line, problem))
}

// splitYAMLLine splits "line N: problem" into N and the problem (0 and the
// message when there is no line).
func splitYAMLLine(msg string) (int, string) {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}

// yamlAt formats a YAML problem at a 1-based line, quoting the line.
func yamlAt(lines []string, line int, problem string) string {
	if line < 1 || line > len(lines) {
		return "YAML error: " + problem
	}
	return fmt.Sprintf("YAML error on line %d (%q): %s", line, strings.TrimRight(lines[line-1], "\r"), problem)
}

// firstTabIndent returns the first line, from line on (1-based), whose
// indentation holds a tab; line itself when none does.
func firstTabIndent(lines []string, line int) int {
	for i := max(line, 1); i <= len(lines); i++ {
		l := lines[i-1]
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") {
			return i
		}
	}
	return line
}
