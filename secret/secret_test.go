package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	f := &File{Credentials: []Value{
		{Name: "api", Placeholder: NewPlaceholder("api"), Value: "v1"},
		{Name: "aws", Placeholder: NewPlaceholder("aws"), AWS: &AWS{AccessKeyID: "AK", SecretAccessKey: "SK", PlaceholderKeyID: NewAWSKeyID()}},
	}}
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := g.Lookup("aws")
	if !ok || v.AWS == nil || v.AWS.SecretAccessKey != "SK" || g.Version != Version {
		t.Fatalf("read back %+v", g)
	}
	if _, ok := g.Lookup("nope"); ok {
		t.Fatal("Lookup found a name that is not there")
	}
}

func TestParseRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":                  `{"version":1,`,
		"version":                   `{"version":2,"credentials":[]}`,
		"unknown field":             `{"version":1,"credentials":[],"extra":1}`,
		"no name":                   `{"version":1,"credentials":[{"placeholder":"p","value":"sekrit-1"}]}`,
		"repeated name":             `{"version":1,"credentials":[{"name":"a","placeholder":"p","value":"sekrit-1"},{"name":"a","placeholder":"q","value":"sekrit-1"}]}`,
		"no placeholder":            `{"version":1,"credentials":[{"name":"a","value":"sekrit-1"}]}`,
		"no value":                  `{"version":1,"credentials":[{"name":"a","placeholder":"p"}]}`,
		"both":                      `{"version":1,"credentials":[{"name":"a","placeholder":"p","value":"sekrit-1","aws":{"access_key_id":"k","secret_access_key":"s","placeholder_key_id":"b"}}]}`,
		"token without placeholder": `{"version":1,"credentials":[{"name":"a","placeholder":"p","aws":{"access_key_id":"k","secret_access_key":"sekrit-1","session_token":"t","placeholder_key_id":"b"}}]}`,
	} {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("%s: Parse accepted it", name)
			continue
		}
		if strings.Contains(err.Error(), "sekrit-1") {
			t.Errorf("%s: the error quotes a value: %v", name, err)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	a, b := NewPlaceholder("anthropic"), NewPlaceholder("anthropic")
	if a == b || !IsPlaceholder(a) || !strings.HasPrefix(a, "bottle-secret-anthropic-") {
		t.Fatalf("placeholders %q %q", a, b)
	}
	if IsPlaceholder("sk-ant-123") || IsPlaceholder(a+"x") {
		t.Fatal("IsPlaceholder took what NewPlaceholder does not make")
	}
	k := NewAWSKeyID()
	if len(k) != 20 || !strings.HasPrefix(k, "BOTTLE") || strings.ToUpper(k) != k || k == NewAWSKeyID() {
		t.Fatalf("aws key id %q", k)
	}
}
