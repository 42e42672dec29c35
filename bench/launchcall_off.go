//go:build !launch

package main

// Until bench/launch.go (launchRows) lands on main, the harness has no launch
// rows. When it lands: delete this file and launchcall_on.go's build line.

func (e *wlEnv) launchRows() ([]Row, error) { return nil, nil }
