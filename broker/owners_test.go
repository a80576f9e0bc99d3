package broker

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// connection is an open client of user presenting id, as mochi builds it.
func connection(srv *mqtt.Server, id, user string) *mqtt.Client {
	cl := srv.NewClient(nil, "tcp", id, false)
	cl.Properties.Username = []byte(user)
	return cl
}

func TestClientOwners(t *testing.T) {
	cases := []struct {
		name      string
		listed    string // user of the session mochi lists under the id, "" for none
		claimed   string // user of a connection between login and listing, "" for none
		closed    bool   // that connection has ended
		settled   bool   // and was settled
		user      string
		wantOK    bool
		wantOwner string
	}{
		{name: "a fresh id", user: "pi-1", wantOK: true},
		{name: "its own session", listed: "pi-1", user: "pi-1", wantOK: true},
		{name: "another user's session", listed: "reader", user: "pi-1", wantOwner: "reader"},
		{name: "another user's connection not yet listed", claimed: "reader", user: "pi-1", wantOwner: "reader"},
		{name: "its own connection not yet listed", claimed: "pi-1", user: "pi-1", wantOK: true},
		{name: "another user's connection that ended before it was listed", claimed: "reader", closed: true, user: "pi-1", wantOK: true},
		{name: "another user's claim settled", claimed: "reader", settled: true, user: "pi-1", wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := mqtt.New(&mqtt.Options{})
			const id = "shared-id"
			if tc.listed != "" {
				srv.Clients.Add(connection(srv, id, tc.listed))
			}
			o := newClientOwners(srv.Clients.Get)
			if tc.claimed != "" {
				first := connection(srv, id, tc.claimed)
				if _, ok := o.claim(first); !ok {
					t.Fatalf("the first claim on a fresh id was refused")
				}
				if tc.closed {
					first.Stop(nil)
				}
				if tc.settled {
					o.settle(first)
				}
			}
			owner, ok := o.claim(connection(srv, id, tc.user))
			if ok != tc.wantOK || owner != tc.wantOwner {
				t.Fatalf("claim by %s: owner %q, ok %v; want %q, %v", tc.user, owner, ok, tc.wantOwner, tc.wantOK)
			}
		})
	}
}

// The inline client (the HTTP shim's) is listed with no user: nobody may
// take its id over.
func TestClientOwnersKeepTheInlineClient(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true})
	o := newClientOwners(srv.Clients.Get)
	if _, ok := o.claim(connection(srv, mqtt.InlineClientId, "pi-1")); ok {
		t.Fatal("a user took the inline client's id")
	}
}
