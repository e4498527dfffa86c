//go:build !portable

package main_test

const portableBuild = false
