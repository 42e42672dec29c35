//go:build unix

package launcher

import (
	"errors"
	"os"
	"syscall"
)

// tryLock takes f's lock (flock: exclusive, or shared to look) without
// waiting; ok is false when someone else holds it.
func tryLock(f *os.File, exclusive bool) (ok bool, err error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlock(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// agentOpenFlags open what the agent wrote: never through a symlink, and
// never waiting on a FIFO.
const agentOpenFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
