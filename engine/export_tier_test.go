package engine

import "time"

// SetTierFailpoint installs a crash hook on e's tiering: f is called at
// each named step of a pass or of a tiered merge (tierer.failpoint), and a
// non-nil error ends the operation right there, as a kill -9 would. nil
// removes it.
func SetTierFailpoint(e *Engine, f func(step string) error) {
	if f == nil {
		e.tier.failAt.Store(nil)
		return
	}
	e.tier.failAt.Store(&f)
}

// SetDeleteGrace changes e's --tier.delete-grace between passes, so that
// a test can hold retired objects for "ever" and then see them go.
func SetDeleteGrace(e *Engine, d time.Duration) {
	e.tier.mu.Lock()
	defer e.tier.mu.Unlock()
	e.tier.cfg.DeleteGrace = d
}
