package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds how much of a configuration file Load reads; real files are a few KiB.
const maxFileSize = 1 << 20

// maxDecodeErrors bounds how many structural problems one error reports.
const maxDecodeErrors = 20

// DecodeError is one problem found while reading the YAML itself (syntax, unknown field, wrong type, empty
// file): where it is and what is wrong. Problems with values are FieldErrors instead.
type DecodeError struct {
	// File is the file name given to Parse or Load.
	File string
	// Line is the 1-based line, or 0 when the problem has no single line.
	Line int
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Error implements error as "file:line: message".
func (e *DecodeError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Load reads, strictly decodes and validates the configuration file at path (see Parse) and records path in
// Config.Path.
func Load(path string) (*Config, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, readError(path, err)
	}
	c, err := Parse(data, path)
	if c != nil {
		c.Path = path
	}
	return c, err
}

// readError says why the config at path could not be read and what to do: create a missing one, run as
// root or administrator for one only its owner reads.
func readError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read configuration %s: %w; check the path given with --config, or run `agent setup` to create it", path, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("read configuration %s: %w; the file is there, but only its owner may read it "+
			"(it names who may get tokens): %s", path, err, asAdmin)
	default:
		return fmt.Errorf("read configuration %s: %w", path, err)
	}
}

// asAdmin says how to run a command that reads the root-only config.
var asAdmin = func() string {
	if runtime.GOOS == "windows" {
		return "run the command from an elevated prompt (Run as administrator)"
	}
	return "run the command as root (sudo agent ...)"
}()

// readBounded reads at most maxFileSize bytes of path and refuses larger files.
func readBounded(path string) ([]byte, error) {
	f, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes, which no configuration is", maxFileSize)
	}
	return data, nil
}

// Parse strictly decodes one YAML document into a Config, fills in defaults and validates it. filename is
// used only in messages.
//
// Problems with the YAML itself (syntax, unknown fields, wrong types, an empty file, more than one document)
// return a nil Config and an error listing DecodeErrors ("file:line: ..."). Problems with values return the
// decoded Config (defaults applied) together with an Errors value whose entries carry file and line, so
// callers such as `agent doctor` or the wizard can still look at, and repair, what was read.
func Parse(data []byte, filename string) (*Config, error) {
	d, err := decode(data, filename)
	if err != nil {
		return nil, err
	}
	c, lines := d.cfg, d.lines
	if err := c.validate(runtime.GOOS); err != nil {
		var errs Errors
		if errors.As(err, &errs) {
			for i := range errs {
				errs[i].File = filename
				errs[i].Line = lineOf(lines, errs[i].Path)
			}
			return c, errs
		}
		return c, err
	}
	return c, nil
}

// decoded is what decode returns.
type decoded struct {
	cfg   *Config
	lines map[string]int // line of every field path seen
	root  *yaml.Node     // the document node, for keeping comments when saving
}

// decode is Parse without defaults and validation.
func decode(data []byte, filename string) (*decoded, error) {
	emptyErr := &DecodeError{File: filename, Msg: "the configuration is empty; start from config.example.yaml or run `agent setup`"}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, emptyErr
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptyErr
		}
		return nil, yamlError(filename, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &DecodeError{File: filename, Line: next.Line,
			Msg: "a second YAML document starts here (after ---); the configuration must be one document: remove the extra ---"}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(filename, err)
	}
	body := &root
	if body.Kind == yaml.DocumentNode {
		if len(body.Content) == 0 {
			return nil, emptyErr
		}
		body = body.Content[0]
	}
	if body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null" {
		return nil, emptyErr
	}
	ck := &checker{file: filename, lines: map[string]int{}, seen: map[seenKey]bool{}}
	ck.walk(body, reflect.TypeFor[Config](), "")
	if len(ck.errs) > 0 {
		return nil, ck.err()
	}
	var c Config
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&c); err != nil {
		return nil, yamlError(filename, err)
	}
	return &decoded{cfg: &c, lines: ck.lines, root: &root}, nil
}

var yamlLineRE = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)

// yamlError turns a yaml library error into DecodeErrors with the file name and line.
func yamlError(filename string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		e := &DecodeError{File: filename, Msg: m}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Msg = sm[2]
		}
		if te == nil {
			e.Msg += " (YAML syntax: check indentation and quoting near this line)"
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// lineOf finds the line of path or of its nearest recorded parent; 0 when unknown.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

type seenKey struct {
	node *yaml.Node
	typ  reflect.Type
}

// checker walks the YAML node tree against the Config type, so unknown fields and wrong types are reported
// with their line, the section they are in and what was expected. Aliased nodes are checked once per type,
// which bounds the work on alias-heavy input.
type checker struct {
	file  string
	errs  []error
	lines map[string]int
	seen  map[seenKey]bool
}

func (ck *checker) errorf(line int, format string, args ...any) {
	ck.errs = append(ck.errs, &DecodeError{File: ck.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (ck *checker) err() error {
	errs := ck.errs
	if len(errs) > maxDecodeErrors {
		more := len(errs) - maxDecodeErrors
		errs = append(errs[:maxDecodeErrors:maxDecodeErrors], fmt.Errorf("%s: ... and %d more problems", ck.file, more))
	}
	return errors.Join(errs...)
}

var durationType = reflect.TypeFor[time.Duration]()

func (ck *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if ck.seen[seenKey{n, t}] {
		return
	}
	ck.seen[seenKey{n, t}] = true
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the field at its zero value
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			ck.errorf(n.Line, "%s: expected a duration such as 10s or 1m30s, got %s", sectionName(path), kindName(n))
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			ck.errorf(n.Line, "%s: expected a duration with a unit such as 10s or 1m30s, got %s", sectionName(path), shortQuote(n.Value))
		}
	case t.Kind() == reflect.Struct:
		ck.walkStruct(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			ck.errorf(n.Line, "%s: expected a list (- item lines or [a, b]), got %s", sectionName(path), kindName(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ck.lines[p] = item.Line
			ck.walk(item, t.Elem(), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			ck.errorf(n.Line, "%s: expected a single value (text), got %s", sectionName(path), kindName(n))
		}
	}
}

func (ck *checker) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		ck.errorf(n.Line, "%s: expected a mapping with the fields %s, got %s", sectionName(path), strings.Join(fieldNames(t), ", "), kindName(n))
		return
	}
	seenKeys := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			ck.errorf(k.Line, "in %s: a key must be a plain name, got %s", sectionName(path), kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			ck.walkMerge(v, t, path)
			continue
		}
		if prev, dup := seenKeys[k.Value]; dup {
			ck.errorf(k.Line, "field %q in %s is already set at line %d; keep one of them", k.Value, sectionName(path), prev)
			continue
		}
		seenKeys[k.Value] = k.Line
		f, ok := fieldByName(t, k.Value)
		if !ok {
			name := strconv.Quote(k.Value)
			if len(k.Value) > 40 { // no field is this long: likely pasted data, perhaps a secret
				name = fmt.Sprintf("of %d characters", len(k.Value))
			}
			ck.errorf(k.Line, "unknown field %s in %s; valid fields: %s%s", name, sectionName(path), strings.Join(fieldNames(t), ", "), suggest(k.Value, fieldNames(t)))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		ck.lines[p] = k.Line
		ck.walk(v, f.Type, p)
	}
}

// walkMerge checks the value of a "<<" merge key: a mapping, or a list of mappings.
func (ck *checker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			ck.walk(item, t, path)
		}
		return
	}
	ck.walk(v, t, path)
}
