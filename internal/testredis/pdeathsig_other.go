//go:build !linux

package testredis

import "os/exec"

// setParentDeathSignal has no equivalent here: a killed test binary may
// leave its private redis-server running (it holds nothing).
func setParentDeathSignal(*exec.Cmd) {}
