package launcher

import (
	"strings"
	"testing"
)

// TestMergeJSONDeep: a file of the image's nested deep (what provisioning
// reads of it is bounded by size, not depth; indented, its size grows with
// the square of its depth) is not merged, and the recipe's own content
// must be shallow too.
func TestMergeJSONDeep(t *testing.T) {
	deep := func(open, close string, n int) []byte {
		return []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
	}
	for _, doc := range [][]byte{deep("[", "]", maxAgentFile/2), deep(`{"b":`, "}", 20000), deep("[", "]", maxJSONDepth+1)} {
		if out, err := mergeJSON(doc, []byte(`{"a": 1}`)); err == nil || !strings.Contains(err.Error(), "nested too deep") {
			t.Errorf("a document %d bytes long: %d bytes, %v", len(doc), len(out), err)
		}
		if _, err := mergeJSON([]byte(`{}`), doc); err == nil || !strings.Contains(err.Error(), "nested too deep") {
			t.Errorf("a recipe's document %d bytes long: %v", len(doc), err)
		}
	}
	if _, err := mergeJSON(deep(`{"b":`, "}", maxJSONDepth), []byte(`{"a": 1}`)); err != nil {
		t.Errorf("%d deep: %v", maxJSONDepth, err)
	}
}
