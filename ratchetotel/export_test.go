package ratchetotel

// OpenRuns reports how many runs have open spans.
func (o *Observer) OpenRuns() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.runs)
}
