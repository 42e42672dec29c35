//go:build !race

package dlp

const raceOn = false
