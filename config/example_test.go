package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../config.example.yaml"

func TestExampleIsValid(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("config.example.yaml must load and validate:\n%v", err)
	}
	if len(c.SystemUsers) < 2 {
		t.Fatalf("the example shows scenario 10 with two system users, got %d", len(c.SystemUsers))
	}
	refs := 0
	for _, su := range c.SystemUsers {
		if su.ExternalRef != "" {
			refs++
		}
	}
	if refs == 0 || refs == len(c.SystemUsers) {
		t.Errorf("the example should show one system user without external_ref and one with it")
	}
	if CheckOrgNumber(c.Organization) != nil || !strings.HasPrefix(c.System.ID, c.Organization+"_") {
		t.Errorf("example organisation/system id inconsistent: %s %s", c.Organization, c.System.ID)
	}
}

// typePaths lists every YAML field path of t, lists written as "[]": "clients[].scopes".
func typePaths(t reflect.Type, prefix string, out *[]string) {
	for f := range t.Fields() {
		name := yamlName(f)
		if name == "" {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		*out = append(*out, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			p += "[]"
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			typePaths(ft, p, out)
		}
	}
}

// nodePaths lists every key path in a YAML node tree in the same notation, with whether it has a comment.
func nodePaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		nodePaths(n.Content[0], prefix, out)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			out[p] = out[p] || k.HeadComment != "" || k.LineComment != ""
			nodePaths(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			nodePaths(item, prefix+"[]", out)
		}
	}
}

// TestExampleIsComplete fails when a field is added to Config without being shown in config.example.yaml,
// and requires a comment on every top-level field.
func TestExampleIsComplete(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	nodePaths(&root, "", seen)
	var want []string
	typePaths(reflect.TypeFor[Config](), "", &want)
	if len(want) < 40 {
		t.Fatalf("reflection found only %d fields: %v", len(want), want)
	}
	for _, p := range want {
		commented, ok := seen[p]
		if !ok {
			t.Errorf("config.example.yaml does not show %s", p)
		} else if !strings.Contains(p, ".") && !commented {
			t.Errorf("config.example.yaml has no comment on %s", p)
		}
	}
	for p := range seen {
		if !slices.Contains(want, p) {
			t.Errorf("config.example.yaml shows %s, which Config does not have", p)
		}
	}
}
