//go:build race

package dlp

// raceOn says the race detector is on: the tests that stream tens of MB
// or scan a body at every split point sample less (TestConcurrentUse is
// the one that needs it).
const raceOn = true
