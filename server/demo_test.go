package server

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/shim"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// shipped is config.yaml as it comes, demo users and key included.
func shipped(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	if _, err := configfile.LoadFile("../config.yaml", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func hashOf(t *testing.T, secret string) string {
	t.Helper()
	h, err := passwd.Hash([]byte(secret), 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The guard goes by the secret: the shipped hashes under other names, or a
// demo password hashed anew, are refused beyond loopback; a user named like
// a demo user with a password of its own is not.
func TestRefuseExposedDemoBySecret(t *testing.T) {
	demo := shipped(t)
	hashByName := map[string]string{}
	for _, u := range demo.Broker.Users {
		hashByName[u.Name] = u.PasswordHash
	}
	shippedKey := demo.HTTP.Legacy.Keys[0].KeyHash
	cases := []struct {
		name    string
		tcp     string
		users   []broker.User
		keys    []shim.Key
		refused []string // what the error must name; nil: no error
	}{
		{"shipped admin hash renamed admin", "0.0.0.0:1883",
			[]broker.User{{Name: "admin", PasswordHash: hashByName["demo-admin"], Role: broker.RoleAdmin}},
			nil, []string{"user admin", "broker.tcp 0.0.0.0:1883"}},
		{"shipped gateway hash renamed gateway-1", "[::]:1883",
			[]broker.User{{Name: "gateway-1", PasswordHash: hashByName["demo-gateway"], Role: broker.RoleGateway}},
			nil, []string{"user gateway-1"}},
		{"demo password hashed anew under another name", "0.0.0.0:1883",
			[]broker.User{{Name: "ops", PasswordHash: hashOf(t, "demo-reader-pass"), Role: broker.RoleReader}},
			nil, []string{"user ops"}},
		{"another user's demo password", "0.0.0.0:1883",
			[]broker.User{{Name: "demo-device", PasswordHash: hashByName["demo-admin"], Role: broker.RoleDevice}},
			nil, []string{"user demo-device"}},
		{"shipped legacy key", "0.0.0.0:1883",
			[]broker.User{{Name: "admin", PasswordHash: hashOf(t, "a-real-secret"), Role: broker.RoleAdmin}},
			[]shim.Key{{KeyHash: hashOf(t, "a-real-key"), Device: "*"}, {KeyHash: shippedKey, Device: "*"}},
			[]string{"http.legacy.keys[1]"}},
		{"own secrets under demo names", "0.0.0.0:1883",
			[]broker.User{{Name: "demo-admin", PasswordHash: hashOf(t, "a-real-secret"), Role: broker.RoleAdmin}},
			[]shim.Key{{KeyHash: hashOf(t, "a-real-key"), Device: "*"}}, nil},
		{"shipped hashes on loopback", "127.0.0.1:1883",
			[]broker.User{{Name: "admin", PasswordHash: hashByName["demo-admin"], Role: broker.RoleAdmin}},
			[]shim.Key{{KeyHash: shippedKey, Device: "*"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Broker.TCP, cfg.Broker.Users, cfg.HTTP.Legacy.Keys = tc.tcp, tc.users, tc.keys
			err := refuseExposedDemo(cfg, passwd.NewChecker())
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("started with %v beyond loopback, want a refusal", tc.refused)
			}
			for _, want := range tc.refused {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not name %q", err, want)
				}
			}
		})
	}
}

// A bridge on NATS serves the fleet's views: beyond loopback it refuses
// the shipped demo logins as mqflux serve does; on loopback, or without
// the views (lease 0), it starts.
func TestBridgeFleetRefusesExposedDemo(t *testing.T) {
	cases := []struct {
		name    string
		http    string
		lease   bool
		refused bool
	}{
		{"views beyond loopback", "0.0.0.0:0", true, true},
		{"views on loopback", "127.0.0.1:0", true, false},
		{"no views beyond loopback", "0.0.0.0:0", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := shipped(t)
			cfg.DataDir = t.TempDir()
			cfg.HTTP.Address = c.http
			cfg.Bridge.Input = BridgeInputNATS
			cfg.Bridge.NATS.URLs = []string{"nats://127.0.0.1:1"}
			if !c.lease {
				cfg.Bridge.NATS.Lease = 0
			}
			b, err := NewBridge(cfg, slog.New(slog.DiscardHandler))
			if (err != nil) != c.refused {
				t.Fatalf("NewBridge: %v, want refused %v", err, c.refused)
			}
			if err != nil && !strings.Contains(err.Error(), "demo password") {
				t.Errorf("refusal does not say why: %v", err)
			}
			if b != nil {
				_ = b.pipe.Stop(0)
			}
		})
	}
}
