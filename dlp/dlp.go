// Package dlp finds well-known secret formats (cloud keys, GitHub and
// GitLab tokens, Slack tokens, private key blocks, …) in what the agent
// sends: URLs, header values and, streamed, request bodies. The patterns
// are gitleaks' own rules, used as a library; this package is the only one
// that imports gitleaks (internal/depcheck).
//
// A Finding carries a rule id and an offset, never the match: gitleaks'
// findings hold the plaintext secret, and nothing of it leaves Scan.
//
// What a scan costs is gitleaks' regular expressions and its decoder, and
// both are slowest on binary data and on text with encoded-looking runs.
// So a window of a stream is scanned as follows (Detector.scan):
//
//   - of a window with bytes that are not text (gzip, git pack data), only
//     its runs of text long enough to hold a match (textRuns);
//   - without gitleaks' decoder where its first pass would decode nothing,
//     which encodedMatches tells exactly, with a loop over the bytes;
//   - where it would, with the decoder only in a region around each
//     segment, unless the regions are most of the window (regions).
//
// Each says what it gives up; none changes what the rules are.
// BenchmarkScanStream in report mode on 2 loaded CPUs, before and after
// (MB/s, and ns per MB):
//
//	corpus               before           after
//	mixed                3.7  (2.7e8)     38-42 (2.4e7)   block mode 3.6-4.0 -> 24-28 MB/s
//	JSON API bodies      2.4  (4.1e8)     1.9-2.3 (4.3e8) dense \u003c escapes: scanned whole
//	minified JavaScript  1.9  (5.2e8)     8.6 (1.2e8)
//	gzipped tarball      2.0  (4.9e8)     82 (1.2e7)
//	git pack data        2.4  (4.2e8)     80 (1.3e7)
//	prose                190  (5.2e6)     120-155 (7.5e6)
//
// bench/'s corpus is mostly JSON of that kind (Go's encoder escapes <, >
// and &): 1.9 -> 3.2 MB/s in report mode, 0.9 -> 1.6 in block mode.
package dlp

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
	"github.com/zricethezav/gitleaks/v8/report"
)

// Finding is one secret found: the gitleaks rule that matched and where
// the match starts in the field or stream scanned, in bytes from its
// start. It never holds the match.
type Finding struct {
	RuleID string
	Offset int64
}

// Detector scans with gitleaks' embedded default rules, less those left
// out by default (offRules). It is immutable once New returns, and safe for
// concurrent use.
type Detector struct {
	// deep decodes encoded text before it scans; raw does not, and is
	// used where deep's decoder would find nothing to decode (see
	// decodable). Both share one configuration.
	deep, raw *detect.Detector
	// minText is the shortest run of text a match can be (textRuns).
	minText int
}

// offRules returns the gitleaks default rules left out, each with the
// reason. They were measured on ordinary agent traffic (JSON API bodies,
// minified JavaScript, gzip and tar data, git pack data: see
// TestBenignTraffic).
func offRules() map[string]string {
	return map[string]string{
		// It fires on any value of some entropy after a name with "key",
		// "token", "secret", "auth", … in it: a content hash as a cache
		// key, an idempotency key (a UUID), a pagination cursor
		// ("next_page_token"), a session id. Ordinary JSON API bodies
		// carry those all the time. The specific rules still catch the
		// token formats it would have caught.
		"generic-api-key": "matches ordinary JSON and JavaScript key/value pairs",
	}
}

// quiet silences gitleaks' logger, a zerolog logger that its package sets
// up in init() to write to stderr, and whose trace and debug events carry
// the secret found (detect.go: "skipping finding" with Str("finding",
// secret)). It is gitleaks' one global that matters here; it is set once,
// before any Detector exists, and never again.
var quiet sync.Once

// New builds a Detector from gitleaks' embedded default configuration.
// It costs tens of milliseconds (222 regular expressions to compile):
// build one and share it.
func New() (*Detector, error) { return newDetector(offRules()) }

// newDetector builds a Detector with gitleaks' default rules less off.
func newDetector(off map[string]string) (*Detector, error) {
	quiet.Do(func() {
		logging.Logger = zerolog.Nop()
		zerolog.SetGlobalLevel(zerolog.Disabled)
	})
	// A viper of our own: gitleaks' NewDetectorDefaultConfig reads the
	// configuration through viper's global instance, which is not safe to
	// use from two goroutines.
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(strings.NewReader(config.DefaultConfig)); err != nil {
		return nil, fmt.Errorf("dlp: reading gitleaks' default rules: %w", err)
	}
	var vc config.ViperConfig
	if err := v.Unmarshal(&vc); err != nil {
		return nil, fmt.Errorf("dlp: reading gitleaks' default rules: %w", err)
	}
	cfg, err := vc.Translate()
	if err != nil {
		return nil, fmt.Errorf("dlp: building gitleaks' default rules: %w", err)
	}
	if err := dropRules(&cfg, off); err != nil {
		return nil, err
	}
	least, err := minMatch(&cfg)
	if err != nil {
		return nil, fmt.Errorf("dlp: reading gitleaks' rules: %w", err)
	}
	deep, raw := detect.NewDetector(cfg), detect.NewDetector(cfg)
	// The `gitleaks:allow` comment would let the agent exempt any line.
	deep.IgnoreGitleaksAllow, raw.IgnoreGitleaksAllow = true, true
	// Find secrets inside base64, hex, percent and unicode escapes, nested
	// up to five deep, as the gitleaks command does (the library's default
	// is 0).
	deep.MaxDecodeDepth = 5
	// The rest stays at its zero value on purpose: Redact is moot (no
	// match leaves this package), and no fragment ever has a FilePath, so
	// neither the global allowlist's paths (images, go.sum, vendor/…: an
	// evasion path for a request) nor path-only rules ever apply.
	return &Detector{deep: deep, raw: raw, minText: least}, nil
}

// dropRules takes the rules in off out of cfg, and the keywords only they
// used (gitleaks prefilters with the keywords and runs a rule only when one
// of its keywords is present).
func dropRules(cfg *config.Config, off map[string]string) error {
	for id := range off {
		if _, ok := cfg.Rules[id]; !ok {
			return fmt.Errorf("dlp: gitleaks has no rule %q to leave out (rule renamed upstream? update offRules)", id)
		}
		delete(cfg.Rules, id)
	}
	var ordered []string
	for _, id := range cfg.OrderedRules {
		if _, ok := cfg.Rules[id]; ok {
			ordered = append(ordered, id)
		}
	}
	cfg.OrderedRules = ordered
	keywords := map[string]struct{}{}
	for _, r := range cfg.Rules {
		for _, k := range r.Keywords {
			keywords[k] = struct{}{}
		}
	}
	cfg.Keywords = keywords
	return nil
}

// Rules returns the ids of the rules the Detector uses, in gitleaks'
// order.
func (d *Detector) Rules() []string {
	return append([]string(nil), d.raw.Config.OrderedRules...)
}

// Scan returns the findings in a small field (a URL, a header value), in
// the order of their offsets.
func (d *Detector) Scan(b []byte) []Finding {
	var out []Finding
	for _, s := range d.scan(b, 0) {
		out = append(out, s.Finding)
	}
	return out
}

// span is a finding and the end of its match, for deduplication.
type span struct {
	Finding
	end int64
}

// scan runs gitleaks over b, a window of a stream that starts at offset
// base, and returns each finding with its span in stream offsets, sorted.
// It scans b's runs of text (textRuns); with the decoder only where it has
// something to decode (decodable), and then only around it where that is
// a small part of b (regions). The report.Findings (which hold the
// secret) go no further than here.
func (d *Detector) scan(b []byte, base int64) []span {
	frag, runs := textRuns(b, d.minText)
	if len(frag) == 0 {
		return nil
	}
	var out []span
	// find runs gl over frag[from:to], and keeps what it finds (only what
	// the decoding passes find, if decodedOnly).
	find := func(gl *detect.Detector, from, to int, decodedOnly bool) {
		part := frag[from:to]
		//lint:ignore SA1019 DetectContext takes a detect.Fragment in gitleaks v8; sources.Fragment replaces it only in v9
		fs := gl.DetectContext(context.Background(), detect.Fragment{Raw: string(part)})
		if len(fs) == 0 {
			return
		}
		nl := newlines(part)
		for i := range fs {
			if decodedOnly && !fromDecoding(&fs[i]) {
				continue
			}
			start, end := bounds(nl, &fs[i])
			start, end = windowOffset(runs, from+start), windowOffset(runs, from+end)
			out = append(out, span{Finding{RuleID: fs[i].RuleID, Offset: base + int64(start)}, base + int64(end)})
		}
	}
	all := encodedMatches(frag)
	if !anyDecodes(all) {
		find(d.raw, 0, len(frag), false)
		return sortDedupe(out)
	}
	parts := regions(frag, all)
	if parts == nil {
		find(d.deep, 0, len(frag), false)
		return sortDedupe(out)
	}
	find(d.raw, 0, len(frag), false)
	for _, p := range parts {
		find(d.deep, p[0], p[1], true)
	}
	return sortDedupe(out)
}

// fromDecoding says whether gitleaks found f in decoded text (its decoding
// passes tag what they find with the depth).
func fromDecoding(f *report.Finding) bool {
	return slices.ContainsFunc(f.Tags, func(t string) bool { return strings.HasPrefix(t, "decode-depth:") })
}

func sortDedupe(s []span) []span {
	if len(s) == 0 {
		return nil
	}
	sortSpans(s)
	return dedupe(s)
}

// newlines returns the offset of every '\n' in b.
func newlines(b []byte) []int {
	var nl []int
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return nl
		}
		nl = append(nl, i+j)
		i += j + 1
	}
}

// bounds turns a finding's lines and columns back into the byte offsets
// of its match in the fragment. gitleaks (detect/location.go) counts lines
// from 0 and columns from 1, and column 1 of line k > 0 is the '\n' that
// ends line k-1: so offset = nl[k-1] + column - 1 (and column - 1 on line
// 0). For a match inside encoded text, the lines and columns are those of
// the encoded text in the fragment.
func bounds(nl []int, f *report.Finding) (start, end int) {
	lineStart := func(k int) int {
		if k <= 0 || len(nl) == 0 {
			return 0
		}
		return nl[min(k, len(nl))-1]
	}
	start = lineStart(f.StartLine) + f.StartColumn - 1
	end = lineStart(f.EndLine) + f.EndColumn
	if start < 0 {
		start = 0
	}
	if end <= start {
		end = start + 1
	}
	return start, end
}

func sortSpans(s []span) {
	slices.SortFunc(s, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), strings.Compare(a.RuleID, b.RuleID))
	})
}

// dedupe drops a finding whose span overlaps an earlier one of the same
// rule (sorted input).
func dedupe(s []span) []span {
	out := s[:0]
	for _, x := range s {
		if !overlapsAny(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func overlapsAny(seen []span, x span) bool {
	for _, y := range seen {
		if y.RuleID == x.RuleID && x.Offset < y.end && y.Offset < x.end {
			return true
		}
	}
	return false
}
