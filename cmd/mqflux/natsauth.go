package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/natsinput"
	"github.com/mqflux/mqflux/topic"
)

// runNATSAuth is `mqflux nats-auth`: the broker's users and roles as a
// nats-server authorization block, for a NATS cluster as the broker tier.
func runNATSAuth(p program, _ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("nats-auth", stderr)
	path := fs.String("config", "", "configuration file whose broker.users and mapping to translate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	m, err := mapping.New(cfg.Mapping)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	layout := append(m.Templates(), topic.MustParse(topic.DefaultDiscovery))
	users := make([]natsinput.User, 0, len(cfg.Broker.Users))
	for _, u := range cfg.Broker.Users {
		users = append(users, natsinput.User{Name: u.Name, PasswordHash: u.PasswordHash, Role: u.Role})
	}
	block, err := natsinput.AuthBlock(users, layout)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, block)
	return err
}
