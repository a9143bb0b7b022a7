package engine

import "errors"

// crash abandons the engine as kill -9 would: no flush, no WAL close beyond
// releasing file handles so the same process can reopen the directory.
func (e *Engine) crash() error {
	e.stopCompactor()
	close(e.stop)
	<-e.done
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	// Closing the WAL syncs it, which a crash would not; the records were
	// synced before their writes returned anyway, which is what we test.
	return errors.Join(e.wal.Close(), e.lock.Close())
}
