package workload

// Placeholders until each scenario's file lands; each helper replaces its
// own with a file of the scenario's name (npm.go, pip.go, gomod.go, git.go)
// and deletes its line here.

func git() Scenario { return Scenario{Name: "git clone and fetch", Key: "git"} }
