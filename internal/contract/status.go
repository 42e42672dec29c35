// Package contract holds what the bottle CLI and bottle-sidecar must agree
// on, in one place: today the sidecar's reload status file.
package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"time"

	"bottle.dev/bottle/internal/atomicfile"
)

// ReloadStatus is the sidecar's account of its last attempt to load the
// allowlist, written atomically after every attempt (at start, on a change
// of the file, on SIGHUP) into the sidecar's own writable state, which the
// agent cannot reach. `bottle allow … --bottle` waits for the hash of the
// file it wrote to show up here: it trusts nothing the agent can write, such
// as the sidecar's log.
type ReloadStatus struct {
	Time time.Time `json:"time"`
	// Tried is the SHA-256 of the file content the sidecar last read; OK
	// says whether it is now in force. When OK is false, Errors says why it
	// was rejected and Applied is the hash of the policy still in force.
	Tried   string `json:"tried_sha256"`
	Applied string `json:"applied_sha256"`
	OK      bool   `json:"ok"`
	Errors  string `json:"errors,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Allow   int    `json:"allow"`
	Deny    int    `json:"deny"`
	// CredentialsTried is the SHA-256 (Hash) of the credentials file
	// (CredentialsFile) the sidecar last read, "" when there is none;
	// CredentialsOK says whether its values are now in force, and
	// CredentialsError why not (it names the file and the problem, never
	// a value). `bottle secret refresh` waits on them.
	CredentialsTried string `json:"credentials_tried_sha256,omitempty"`
	CredentialsOK    bool   `json:"credentials_ok,omitempty"`
	CredentialsError string `json:"credentials_error,omitempty"`
}

// Hash is the hash ReloadStatus uses for a policy file's content.
func Hash(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// WriteStatus replaces path with s.
func WriteStatus(path string, s ReloadStatus) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// ReadStatus reads the status at path.
func ReadStatus(path string) (ReloadStatus, error) {
	var s ReloadStatus
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}
