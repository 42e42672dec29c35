package dlp

import "sort"

// A window that gitleaks' decoder has something to decode in costs a
// scan about five times what one without it costs: gitleaks scans all of
// it again, decoded, and runs the decoder's regular expression over all
// of it twice. What that second pass can add is only a finding that
// overlaps a decoded segment (detectRule keeps no other). So where the
// segments are few, Detector.scan runs the raw Detector over the window,
// and the deep one only over a region around each segment: decodeContext
// bytes or more either side, cut where the decoder's first pass is between
// matches (so that it finds the same segments in the region as in the
// window), keeping only what the decoding passes find. A match of more
// than decodeContext bytes that overlaps a segment (a long JWT, a private
// key block around an encoded part) may be cut short by the region, and is
// then not found; one wholly inside encoded text is.
const decodeContext = 1 << 10

// regions returns the parts of b to scan with the decoder, in order, or
// nil where that would be most of b (then all of b is). all is the
// decoder's matches in b (encodedMatches).
func regions(b []byte, all []encoded) [][2]int {
	var out [][2]int
	total := 0
	for _, m := range touching(all) {
		if !m.decodes {
			continue
		}
		from := cutBefore(b, all, max(0, m.start-decodeContext))
		to := cutAfter(b, all, min(len(b), m.end+decodeContext))
		if n := len(out); n > 0 && from <= out[n-1][1] {
			total -= out[n-1][1] - out[n-1][0]
			out[n-1][1] = max(out[n-1][1], to)
			total += out[n-1][1] - out[n-1][0]
			continue
		}
		out = append(out, [2]int{from, to})
		total += to - from
		if 2*total > len(b) {
			return nil
		}
	}
	if 2*total > len(b) {
		return nil
	}
	return out
}

// between says whether the decoder's scan is between matches at p: no
// match has p inside it, and no two touch at p. A scan that starts or
// ends at p then finds the same matches, and precedence between
// neighbours (touching) works out the same.
func between(all []encoded, p int) bool {
	k := sort.Search(len(all), func(k int) bool { return all[k].end >= p })
	switch {
	case k == len(all) || all[k].start >= p:
		return true
	case all[k].end > p:
		return false // inside
	}
	return k+1 == len(all) || all[k+1].start > p
}

// cutBefore is the first place at or before p where a region may start:
// between matches, and after a byte that is not a word character (so \b
// sees there what it sees in b), if there is one within 64 bytes.
func cutBefore(b []byte, all []encoded, p int) int {
	first := -1
	for q := p; q > 0; q-- {
		if m, in := inside(all, q); in {
			q = m.start + 1 // and on to m.start
			continue
		}
		if !between(all, q) {
			continue
		}
		if !isWord(b[q-1]) {
			return q
		}
		if first < 0 {
			first = q
		} else if first-q > 64 {
			return first
		}
	}
	return 0
}

// cutAfter is cutBefore's twin for where a region ends.
func cutAfter(b []byte, all []encoded, p int) int {
	first := -1
	for q := p; q < len(b); q++ {
		if m, in := inside(all, q); in {
			q = m.end - 1 // and on to m.end
			continue
		}
		if !between(all, q) {
			continue
		}
		if !isWord(b[q]) {
			return q
		}
		if first < 0 {
			first = q
		} else if q-first > 64 {
			return first
		}
	}
	return len(b)
}

// inside returns the match p is strictly inside, if any.
func inside(all []encoded, p int) (encoded, bool) {
	k := sort.Search(len(all), func(k int) bool { return all[k].end > p })
	if k < len(all) && all[k].start < p {
		return all[k], true
	}
	return encoded{}, false
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}
