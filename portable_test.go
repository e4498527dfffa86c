//go:build portable

package main_test

// portableBuild: the tests run with -tags portable, so the binary they
// drive is built with it too, and runs the portable code paths.
const portableBuild = true
