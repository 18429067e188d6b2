package testredis

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the server when the thread
// that started it exits (with the test binary).
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
