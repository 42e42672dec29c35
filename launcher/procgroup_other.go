//go:build !unix

package launcher

import (
	"io"
	"syscall"
)

func processGroup(io.Reader) *syscall.SysProcAttr { return nil }
