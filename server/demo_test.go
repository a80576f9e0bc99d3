package server

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/config"
	"github.com/mqflux/mqflux/passwd"
)

// shipped is config.yaml as it comes, demo users and key included.
func shipped(t *testing.T) config.Server {
	t.Helper()
	cfg := config.Default()
	if _, err := config.LoadFile("../config.yaml", &cfg, nil); err != nil {
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
		users   []config.User
		keys    []config.Key
		refused []string // what the error must name; nil: no error
	}{
		{"shipped admin hash renamed admin", "0.0.0.0:1883",
			[]config.User{{Name: "admin", PasswordHash: hashByName["demo-admin"], Role: config.RoleAdmin}},
			nil, []string{"user admin", "broker.tcp 0.0.0.0:1883"}},
		{"shipped gateway hash renamed gateway-1", "[::]:1883",
			[]config.User{{Name: "gateway-1", PasswordHash: hashByName["demo-gateway"], Role: config.RoleGateway}},
			nil, []string{"user gateway-1"}},
		{"demo password hashed anew under another name", "0.0.0.0:1883",
			[]config.User{{Name: "ops", PasswordHash: hashOf(t, "demo-reader-pass"), Role: config.RoleReader}},
			nil, []string{"user ops"}},
		{"another user's demo password", "0.0.0.0:1883",
			[]config.User{{Name: "demo-device", PasswordHash: hashByName["demo-admin"], Role: config.RoleDevice}},
			nil, []string{"user demo-device"}},
		{"shipped legacy key", "0.0.0.0:1883",
			[]config.User{{Name: "admin", PasswordHash: hashOf(t, "a-real-secret"), Role: config.RoleAdmin}},
			[]config.Key{{KeyHash: hashOf(t, "a-real-key"), Device: "*"}, {KeyHash: shippedKey, Device: "*"}},
			[]string{"http.legacy.keys[1]"}},
		{"own secrets under demo names", "0.0.0.0:1883",
			[]config.User{{Name: "demo-admin", PasswordHash: hashOf(t, "a-real-secret"), Role: config.RoleAdmin}},
			[]config.Key{{KeyHash: hashOf(t, "a-real-key"), Device: "*"}}, nil},
		{"shipped hashes on loopback", "127.0.0.1:1883",
			[]config.User{{Name: "admin", PasswordHash: hashByName["demo-admin"], Role: config.RoleAdmin}},
			[]config.Key{{KeyHash: shippedKey, Device: "*"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
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
