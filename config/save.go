package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// configPerm is the mode Save writes a configuration file with: owner-only, as "agent service install"
// requires (security.md D19). It holds no secrets, but it names who may get tokens; the systemd service
// reads it through LoadCredential=, so it needs no wider mode. An existing file gets it too, whatever
// its old mode (issue 15: a 0666 config must not stay open after `agent clients add` rewrote it); a
// stricter 0400 stays 0400.
const configPerm = 0o600

// savedHeader heads a configuration file Save creates from nothing.
const savedHeader = "systemuser-agent configuration. config.example.yaml documents every field.\n" +
	"Secrets never go here: keys live in the key store, caller secrets in their own files."

// Save validates c (filling in defaults) and atomically writes it to path as YAML. It refuses to write an
// invalid configuration, and it refuses to overwrite an existing file that does not parse, since that file
// may hold edits that would be lost; in both cases the file on disk is left as it was. Comments and list
// styles of an existing file are kept for the fields that remain.
func Save(path string, c *Config) error {
	if c == nil {
		return errors.New("save configuration: nothing to save (nil config)")
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("refusing to save %s: the new configuration is invalid, so the file was left unchanged; fix these first:\n%w", path, err)
	}
	perm := fs.FileMode(configPerm)
	var old *yaml.Node
	switch fi, err := os.Stat(path); {
	case err == nil:
		if fi.Mode().Perm() == 0o400 {
			perm = 0o400
		}
		data, err := readBounded(path)
		if err != nil {
			return fmt.Errorf("refusing to overwrite %s: read it: %w; fix it or move it away, then retry", path, err)
		}
		d, err := decode(data, path)
		if err != nil {
			return fmt.Errorf("refusing to overwrite %s: it does not parse, so it may hold edits that would be lost; fix it or move it away, then retry:\n%w", path, err)
		}
		old = d.root
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("save configuration: %w", err)
	}
	data, err := marshal(c, old)
	if err != nil {
		return fmt.Errorf("save configuration %s: %w", path, err)
	}
	// What is written must read back as the same valid configuration.
	back, err := Parse(data, path)
	if err == nil {
		back.Path = c.Path
		if !reflect.DeepEqual(back, c) {
			err = errors.New("it reads back differently")
		}
	}
	if err != nil {
		return fmt.Errorf("save configuration %s: the encoded file does not read back as written (a bug; the file was left unchanged): %w", path, err)
	}
	if err := WriteFileAtomic(path, data, perm); err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	c.Path = path
	return nil
}

// marshal encodes c as YAML, carrying comments and collection styles over from old (a document node) where
// the same fields remain.
func marshal(c *Config, old *yaml.Node) ([]byte, error) {
	var body yaml.Node
	if err := body.Encode(c); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{&body}}
	if old != nil {
		copyComments(doc, old)
	} else {
		doc.HeadComment = savedHeader
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return spaceSections(buf.Bytes()), nil
}

// spaceSections puts a blank line before each top-level field and its comment block, as people write
// them. Lines at column 0 in block style are keys or comments, never the inside of a value.
func spaceSections(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	prevComment, prevBlank := true, true
	for _, l := range lines {
		blank := len(bytes.TrimSpace(l)) == 0
		top := len(l) > 0 && l[0] != ' ' && l[0] != '-' && !blank
		comment := bytes.HasPrefix(l, []byte("#"))
		if top && !prevBlank && !prevComment {
			out.WriteByte('\n')
		}
		out.Write(l)
		prevComment, prevBlank = comment, blank
	}
	return out.Bytes()
}

// copyComments copies comments (and flow/quoting styles) from src to the matching nodes of dst: mapping
// entries by key, list items of mappings by their name or id, scalar list items by value.
func copyComments(dst, src *yaml.Node) {
	for src != nil && src.Kind == yaml.AliasNode {
		src = src.Alias
	}
	if dst == nil || src == nil {
		return
	}
	dst.HeadComment, dst.LineComment, dst.FootComment = src.HeadComment, src.LineComment, src.FootComment
	if dst.Kind != src.Kind {
		return
	}
	switch dst.Kind {
	case yaml.DocumentNode:
		if len(dst.Content) > 0 && len(src.Content) > 0 {
			copyComments(dst.Content[0], src.Content[0])
		}
	case yaml.MappingNode:
		dst.Style = src.Style
		for i := 0; i+1 < len(dst.Content); i += 2 {
			if j := mappingIndex(src, dst.Content[i].Value); j >= 0 {
				copyComments(dst.Content[i], src.Content[j])
				copyComments(dst.Content[i+1], src.Content[j+1])
			}
		}
	case yaml.SequenceNode:
		dst.Style = src.Style
		for _, item := range dst.Content {
			copyComments(item, matchingItem(src, item))
		}
	case yaml.ScalarNode:
		if dst.ShortTag() == "!!str" && src.ShortTag() == "!!str" && dst.Value == src.Value {
			dst.Style = src.Style
		}
	}
}

// mappingIndex is the index of key's key node in the mapping m, or -1.
func mappingIndex(m *yaml.Node, key string) int {
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return j
		}
	}
	return -1
}

// matchingItem finds the item of the list src that item replaces: the mapping with the same name or id,
// or the scalar with the same value.
func matchingItem(src, item *yaml.Node) *yaml.Node {
	for _, s := range src.Content {
		for s != nil && s.Kind == yaml.AliasNode {
			s = s.Alias
		}
		if s == nil || s.Kind != item.Kind {
			continue
		}
		switch item.Kind {
		case yaml.ScalarNode:
			if s.Value == item.Value {
				return s
			}
		case yaml.MappingNode:
			for _, key := range []string{"name", "id", "resource"} {
				i, j := mappingIndex(item, key), mappingIndex(s, key)
				if i >= 0 && j >= 0 && item.Content[i+1].Value == s.Content[j+1].Value {
					return s
				}
			}
		}
	}
	return nil
}
