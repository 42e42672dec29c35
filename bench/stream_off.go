//go:build !stream

package main

// Until bench/workload/stream.go (the streaming scenario) lands on main, the
// harness runs without it. When it lands: delete this file and the
// "//go:build stream" line of stream_on.go (and of bench/simnet's pair).

import "context"

func streamAllow() string { return "" }

func (e *wlEnv) streamRows(context.Context) ([]Row, []string, error) { return nil, nil, nil }
