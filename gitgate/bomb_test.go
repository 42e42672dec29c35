package gitgate

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// rawObject is one object of a pack built by hand: a whole one (typ 1-4)
// or a REF_DELTA (typ 7) on base.
type rawObject struct {
	typ  byte
	size int64 // the declared (inflated) size; -1: len(data)
	data []byte
	base [20]byte
}

// buildPack writes a version 2 pack of objs, its checksum included.
func buildPack(t testing.TB, objs []rawObject) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("PACK\x00\x00\x00\x02")
	n := len(objs)
	b.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	for _, o := range objs {
		size := o.size
		if size < 0 {
			size = int64(len(o.data))
		}
		c := o.typ<<4 | byte(size&0x0f)
		size >>= 4
		for size > 0 {
			b.WriteByte(c | 0x80)
			c = byte(size & 0x7f)
			size >>= 7
		}
		b.WriteByte(c)
		if o.typ == 7 {
			b.Write(o.base[:])
		}
		zw := zlib.NewWriter(&b)
		zw.Write(o.data)
		zw.Close()
	}
	sum := sha1.Sum(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// blobID is the object id of a blob with content data.
func blobID(data []byte) [20]byte {
	return sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
}

// leb128 is n as a delta header writes a size.
func leb128(n int64) []byte {
	var out []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

// deltaBomb is a delta on a 64 KiB base that copies the whole base
// copies times: a delta of about copies bytes whose result is copies ×
// 64 KiB.
// The result ends in tail (at most 127 bytes), inserted.
func deltaBomb(base []byte, copies int, tail string) []byte {
	d := append(leb128(int64(len(base))), leb128(int64(copies)<<16+int64(len(tail)))...)
	// 0x80 alone: copy from offset 0, size 0, which means 0x10000.
	d = append(d, bytes.Repeat([]byte{0x80}, copies)...)
	if tail != "" {
		d = append(append(d, byte(len(tail))), tail...)
	}
	return d
}

func withLimit(p *Push, max int64) *Push { p.maxPack = max; return p }

// TestInspectBoundsInflatedSize: the gate refuses, before inflating it,
// an object whose content would be larger than the push may be
// (--git-max-pack), and a pack whose objects add up to more than
// maxInflate times that: a pack of a few KiB must not make the sidecar
// hold or hash gigabytes.
func TestInspectBoundsInflatedSize(t *testing.T) {
	const limit = 1 << 20
	base := make([]byte, 1<<16)
	baseID := blobID(base)
	tests := []struct {
		name string
		objs []rawObject
	}{
		{"a blob larger than the limit", []rawObject{{typ: 3, size: -1, data: make([]byte, 2*limit)}}},
		{"a delta whose result is larger than the limit", []rawObject{
			{typ: 3, size: -1, data: base},
			{typ: 7, size: -1, data: deltaBomb(base, 2*limit>>16, ""), base: baseID},
		}},
		{"objects that add up to more than the budget", func() []rawObject {
			objs := []rawObject{{typ: 3, size: -1, data: base}}
			for i := range maxInflate * limit >> 19 {
				objs = append(objs, rawObject{typ: 7, size: -1, data: deltaBomb(base, 8, fmt.Sprint(i)), base: baseID})
			}
			return objs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pack := buildPack(t, tt.objs)
			if len(pack) > limit {
				t.Fatalf("the test pack is %d bytes; it must be under the limit", len(pack))
			}
			_, err := withLimit(pushOf(t, pack), limit).Inspect(context.Background(), nil, false)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Inspect = %v; want ErrTooLarge", err)
			}
		})
	}
	// A delta of 1 MiB whose result is 64 GiB, under the default limit:
	// refused at once, never inflated.
	huge := buildPack(t, []rawObject{
		{typ: 3, size: -1, data: base},
		{typ: 7, size: -1, data: deltaBomb(base, 1<<20, ""), base: baseID},
	})
	if _, err := pushOf(t, huge).Inspect(context.Background(), nil, false); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Inspect of a 64 GiB delta = %v; want ErrTooLarge", err)
	}
	// Under the limits the same kind of pack is fine.
	ok := buildPack(t, []rawObject{
		{typ: 3, size: -1, data: base},
		{typ: 7, size: -1, data: deltaBomb(base, 4, ""), base: baseID},
	})
	if _, err := withLimit(pushOf(t, ok), limit).Inspect(context.Background(), nil, false); err != nil {
		t.Fatalf("Inspect of a pack within the limits: %v", err)
	}
}

// interleavedChains is a pack of chains delta chains of depth deltas
// each, on blobs of size bytes, written a link of every chain at a time,
// so that reading its objects by offset resolves each delta anew from
// its chain's base once a small cache has lost the link before.
func interleavedChains(t testing.TB, chains, depth, size int) []byte {
	t.Helper()
	var objs []rawObject
	prev := make([][]byte, chains)
	for j := range chains {
		b := make([]byte, size)
		binary.BigEndian.PutUint64(b, uint64(j))
		prev[j] = b
		objs = append(objs, rawObject{typ: 3, size: -1, data: b})
	}
	for k := 1; k <= depth; k++ {
		for j := range chains {
			next := binary.BigEndian.AppendUint64(append([]byte(nil), prev[j][:size-8]...), uint64(k))
			d := append(leb128(int64(size)), leb128(int64(size))...)
			for off := 0; off < size-8; {
				m := min(size-8-off, 1<<16)
				// copy m bytes from off: four offset bytes, two size bytes
				d = append(d, 0x80|0x0f|0x30, byte(off), byte(off>>8), byte(off>>16), byte(off>>24), byte(m), byte(m>>8))
				off += m
			}
			d = append(append(d, 8), next[size-8:]...)
			objs = append(objs, rawObject{typ: 7, size: -1, data: d, base: blobID(prev[j])})
			prev[j] = next
		}
	}
	return buildPack(t, objs)
}

// TestInspectDeltaWork: interleaved delta chains (a few KiB of pack,
// inflating to well under the limits) cost no more than their results:
// Inspect resolves each delta once, its bases on the scratch stack, so
// the chains' order does not make it apply one again and again (go-git's
// Parser, with its caches, took the square of their depth).
func TestInspectDeltaWork(t *testing.T) {
	const limit = 128 << 20
	for _, tt := range []struct{ chains, depth int }{{24, 24}, {1, 200}} {
		pack := interleavedChains(t, tt.chains, tt.depth, 1<<20)
		if _, err := withLimit(pushOf(t, pack), limit).Inspect(context.Background(), &markerScanner{marker: "no such marker"}, false); err != nil {
			t.Errorf("Inspect of %d chains of %d: %v", tt.chains, tt.depth, err)
		}
	}
}

// FuzzInspectLimits: whatever the pack, under a limit of 1 MiB, Inspect returns (no panic), and an
// error is one of the gate's: too large, malformed or thin.
func FuzzInspectLimits(f *testing.F) {
	base := make([]byte, 1<<10)
	baseID := blobID(base)
	f.Add(buildPack(f, []rawObject{{typ: 3, size: -1, data: []byte("hello\n")}}))
	f.Add(buildPack(f, []rawObject{
		{typ: 3, size: -1, data: base},
		{typ: 7, size: -1, data: append(append(leb128(1<<10), leb128(1<<10+2)...), 0x90, 0x00, 0x04, 2, 'h', 'i'), base: baseID},
	}))
	f.Add(buildPack(f, []rawObject{
		{typ: 2, size: -1, data: []byte("100644 a\x00" + string(baseID[:]))},
		{typ: 1, size: -1, data: []byte("tree 0123456789012345678901234567890123456789\n\nmsg\n")},
		{typ: 4, size: -1, data: []byte("object 0123456789012345678901234567890123456789\ntype blob\ntag v\n\nm\n")},
	}))
	f.Fuzz(func(t *testing.T, pack []byte) {
		p := withLimit(pushOf(t, pack), 1<<20)
		_, err := p.Inspect(context.Background(), &markerScanner{marker: "hi"}, true)
		if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrThin) {
			t.Fatalf("Inspect: %v", err)
		}
	})
}

// TestInspectRefNamesAndOptions: the ref names and push options are
// scanned, in a push without a pack too; a finding names the command or
// option by its position.
func TestInspectRefNamesAndOptions(t *testing.T) {
	key := secret(t)
	body := pkt(oid2+" "+ZeroID+" refs/heads/agent/"+key+"\x00 report-status push-options agent="+key) +
		pkt(oid2+" "+ZeroID+" refs/heads/agent/clean") + "0000" + pkt("ci.skip") + pkt("note="+key) + "0000"
	p, err := Receive(strings.NewReader(body), Limits{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.Inspect(context.Background(), &markerScanner{marker: key}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantFindings(t, res.Findings,
		Finding{Rule: "marker", Path: "the ref name of command 1"},
		Finding{Rule: "marker", Path: "capabilities"},
		Finding{Rule: "marker", Path: "push option 2"},
	)
}

// TestInspectBaseRereads: many small deltas on one large base are
// resolved from the base on the scratch stack, read where each copies
// from, not inflated anew for each.
func TestInspectBaseRereads(t *testing.T) {
	base := make([]byte, 16<<20)
	id := blobID(base)
	objs := []rawObject{{typ: 3, size: -1, data: base}}
	for i := range 200 {
		tail := fmt.Sprint(i)
		d := append(leb128(int64(len(base))), leb128(int64(16+len(tail)))...)
		d = append(d, 0x90, 16) // copy 16 bytes from offset 0
		d = append(append(d, byte(len(tail))), tail...)
		objs = append(objs, rawObject{typ: 7, size: -1, data: d, base: id})
	}
	res, err := pushOf(t, buildPack(t, objs)).Inspect(context.Background(), &markerScanner{marker: "no such marker"}, false)
	if err != nil || res.Blobs != 201 {
		t.Errorf("Inspect of 200 deltas on a 16 MiB base = %+v, %v; want 201 blobs", res, err)
	}
}
