//go:build race

package mqtt

// raceEnabled: the race detector makes every frame larger.
const raceEnabled = true
