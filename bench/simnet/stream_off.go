//go:build !stream

package main

import "bottle.dev/bottle/bench/workload"

// Until bench/workload/stream.go lands on main: no streaming origin. When it
// lands, delete this file and stream_on.go's build line.

func streamSites(workload.Size) ([]workload.Site, error) { return nil, nil }

func streamAllow() string { return "" }
