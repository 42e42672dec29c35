// Package secret is the contract between the host and the sidecar about
// credentials: the file in the sidecar's private config that holds the
// resolved values and the placeholders the agent gets instead
// (contract.CredentialsFile, mode 0600), and how placeholders are made.
// Nothing else bottle writes ever holds a value.
package secret

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Version is the version of the credentials file this package writes.
const Version = 1

// MaxFileSize bounds what Read reads.
const MaxFileSize = 1 << 20

// File is the credentials file: for each credential of the allowlist that
// was resolved, its value and its placeholder. It carries no policy: where
// a credential may go is the allowlist's, read by the sidecar from there.
type File struct {
	Version     int     `json:"version"`
	Credentials []Value `json:"credentials"`
}

// Value is one credential's resolved value and the placeholder the agent
// gets instead.
type Value struct {
	Name        string `json:"name"`
	Placeholder string `json:"placeholder"` // what the agent holds (AWS: the placeholder secret access key)
	Value       string `json:"value,omitempty"`
	AWS         *AWS   `json:"aws,omitempty"`
}

// AWS is the value of a credential of kind aws.
type AWS struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token,omitempty"`
	// The placeholders the agent signs with. The secret access key's is
	// Value.Placeholder.
	PlaceholderKeyID string `json:"placeholder_key_id"`
	PlaceholderToken string `json:"placeholder_token,omitempty"`
}

// Lookup returns the value of the credential named name.
func (f *File) Lookup(name string) (*Value, bool) {
	for i := range f.Credentials {
		if f.Credentials[i].Name == name {
			return &f.Credentials[i], true
		}
	}
	return nil, false
}

// Marshal encodes f.
func (f *File) Marshal() ([]byte, error) {
	f.Version = Version
	return json.MarshalIndent(f, "", "  ")
}

// Parse decodes a credentials file. Errors never quote the content.
func Parse(data []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, errors.New("the credentials file is not valid JSON of version 1")
	}
	if f.Version != Version {
		return nil, fmt.Errorf("the credentials file has version %d; this sidecar reads version %d", f.Version, Version)
	}
	seen := map[string]bool{}
	for _, v := range f.Credentials {
		if v.Name == "" || seen[v.Name] {
			return nil, fmt.Errorf("the credentials file has an empty or repeated name %q", v.Name)
		}
		seen[v.Name] = true
		if v.Placeholder == "" {
			return nil, fmt.Errorf("credential %s has no placeholder", v.Name)
		}
		if (v.AWS == nil) == (v.Value == "") {
			return nil, fmt.Errorf("credential %s must have a value or aws keys, not both or neither", v.Name)
		}
		if v.AWS != nil && (v.AWS.AccessKeyID == "" || v.AWS.SecretAccessKey == "" || v.AWS.PlaceholderKeyID == "" ||
			(v.AWS.SessionToken == "") != (v.AWS.PlaceholderToken == "")) {
			return nil, fmt.Errorf("credential %s has incomplete aws keys", v.Name)
		}
	}
	return &f, nil
}

// Read reads and parses the credentials file at path.
func Read(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB", path, MaxFileSize>>10)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// PlaceholderPrefix starts every placeholder: the agent (and a person
// reading its environment) can tell a placeholder from a key.
const PlaceholderPrefix = "bottle-secret-"

// placeholderRE is what NewPlaceholder makes.
var placeholderRE = regexp.MustCompile(`^bottle-secret-[a-z0-9-]+-[a-z2-7]{26}$`)

// NewPlaceholder makes a placeholder for the credential name: recognisable
// ("bottle-secret-NAME-…") and random (130 bits), so that it cannot be
// guessed and appears nowhere by chance.
func NewPlaceholder(name string) string {
	return PlaceholderPrefix + name + "-" + random26()
}

// IsPlaceholder says whether s has the form NewPlaceholder makes.
func IsPlaceholder(s string) bool { return placeholderRE.MatchString(s) }

// NewAWSKeyID makes a placeholder access key id: 20 characters like a real
// one, starting with "BOTTLE" so that it reads as bottle's.
func NewAWSKeyID() string {
	return "BOTTLE" + strings.ToUpper(random26()[:14])
}

func random26() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [26]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}
