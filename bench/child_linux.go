package bench

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the child syncd when the harness dies, so an
// interrupted run leaves no daemon behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
