package pipeline

// Flow is the few counts a sampler reads every second (the console's
// 15-minute history): the same counters Stats and Health read, without
// the maps Stats builds by input and reason.
type Flow struct {
	Received     int64   // readings received, every input together (Stats.Received summed)
	SpoolRecords int64   // Health.SpoolRecords
	Written      []int64 // each output's Stats.Outputs[i].Written, in configuration order
}

// ReadFlow fills f with the counts now. It reuses f.Written: once that has
// room for every output, reading allocates nothing.
func (p *Pipeline) ReadFlow(f *Flow) {
	f.Received = p.m.counts.received.sum()
	f.SpoolRecords = p.spool.Stats().Records
	f.Written = f.Written[:0]
	for _, o := range p.runs {
		f.Written = append(f.Written, o.written.Load())
	}
}
