package main

import "bottle.dev/bottle/bench/workload"

// The model-API streaming scenario's SSE origin.

func streamSites(size workload.Size) ([]workload.Site, error) { return workload.Stream().Sites(size) }

func streamAllow() string { return workload.Stream().Allow }
