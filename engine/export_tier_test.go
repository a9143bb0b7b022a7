package engine

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
