package workload

// Placeholders until each scenario's file lands; each helper replaces its
// own with a file of the scenario's name (npm.go, pip.go, gomod.go, git.go)
// and deletes its line here.

func pip() Scenario   { return Scenario{Name: "pip install", Key: "pip"} }
func gomod() Scenario { return Scenario{Name: "go mod download", Key: "gomod"} }
