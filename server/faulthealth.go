package server

import "strings"

// storageFaults are the reasons /healthz gives for writes to data_dir that
// fail now (a full disk, typically), most serious first. Each is retried
// and clears itself once the write works again:
//   - spool: readings are pushed back (MQTT 5 reason 0x97, MQTT 3.1.1
//     connection closed, HTTP 503) until the spool can append again;
//   - dead-letter file: a refused reading is pushed back, an output's
//     refused point is kept in the spool, until its dead letter is written;
//   - sessions: MQTT sessions are kept in memory only until the next start;
//   - alert state: transitions wait unsent until the state is saved.
func (s *Server) storageFaults(spool, deadLetter string) []string {
	var out []string
	add := func(what, why string) {
		if why != "" {
			out = append(out, what+": "+why)
		}
	}
	add("spool", spool)
	add("dead-letter file", deadLetter)
	add("sessions", s.broker.SessionStoreFault())
	if s.alerts != nil {
		add("alert state", s.alerts.SaveFault())
	}
	return out
}

// faultReadiness is the readiness line for storage faults: readings are
// pushed back while the spool cannot append, accepted otherwise.
func faultReadiness(spoolFault string, faults []string) string {
	if spoolFault != "" {
		return "pushing back readings; " + strings.Join(faults, "; ")
	}
	return "accepting readings; " + strings.Join(faults, "; ")
}
