//go:build race

package yamltest

// raceEnabled is whether the test binary has the race detector, which
// TimeLimit allows for.
const raceEnabled = true
