package broker

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// clientOwners ties a client id to the user whose session it names, so
// that another user cannot inherit that session (and read its queued
// messages) or end it (and fire its will) by presenting the same id.
//
// The owner of a session is the user name mochi keeps in the session: in
// its client list while the session lives, and in the session store's
// client record, which brings it back after a restart. A connection is only
// in that list once mochi has registered it, a moment after it was
// authenticated, so claims holds the connections in between: without it two
// users connecting with a fresh id at once could both be let in.
type clientOwners struct {
	sessions func(id string) (*mqtt.Client, bool) // mochi's client list
	mu       sync.Mutex
	claims   map[string]*mqtt.Client // authenticated, not yet in the list
}

func newClientOwners(sessions func(id string) (*mqtt.Client, bool)) *clientOwners {
	return &clientOwners{sessions: sessions, claims: map[string]*mqtt.Client{}}
}

// claim lets cl use its client id unless a session or a connection of
// another user holds it; then it returns that user.
func (o *clientOwners) claim(cl *mqtt.Client) (owner string, ok bool) {
	user := string(cl.Properties.Username)
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, found := o.sessions(cl.ID); found && string(s.Properties.Username) != user {
		return string(s.Properties.Username), false
	}
	if c, found := o.claims[cl.ID]; found && c != cl && !c.Closed() && string(c.Properties.Username) != user {
		return string(c.Properties.Username), false
	}
	o.claims[cl.ID] = cl
	return "", true
}

// settle drops cl's claim once mochi lists its session, or its connection
// ended before that.
func (o *clientOwners) settle(cl *mqtt.Client) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.claims[cl.ID] == cl {
		delete(o.claims, cl.ID)
	}
}
