package main

// The launch timings of bench/launch.go, on the workloads' egress network
// and agent base.
func (e *wlEnv) launchRows() ([]Row, error) {
	return launchRows(e.o.bottle, benchBase, e.net, e.o.quick)
}
