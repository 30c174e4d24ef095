//go:build !unix

package git

import "os/exec"

// setProcessGroup does nothing where process groups are not available; cancellation then kills
// git alone.
func setProcessGroup(*exec.Cmd) {}
