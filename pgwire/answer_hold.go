package pgwire

// An answer's rows stay reserved of the memory all running queries share
// (--query-max-memory-total) until they are sent: a client that reads
// them slowly, or suspends a portal between Executes, holds them that
// long. The reservation is the answer's hold, given back here.

// sent gives back what the answer's rows hold of the shared budget, once
// they are sent or dropped unsent. Safe to call more than once.
func (a *answer) sent() {
	if a != nil && a.hold != nil {
		a.hold.Release()
		a.hold = nil
	}
}

// dropPortal closes the portal name, giving back its answer's rows.
func (c *conn) dropPortal(name string) {
	if p, ok := c.portals[name]; ok {
		p.ans.sent()
		delete(c.portals, name)
	}
}

// dropPortals closes every portal of the connection, which is ending.
func (c *conn) dropPortals() {
	for name := range c.portals {
		c.dropPortal(name)
	}
}
