package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// runDevices is `mqflux devices forget NAME [-data]`: the running server
// forgets the device (DELETE /v1/devices/{device}), as the console's
// Forget button does. Only the server may change its registry while it
// runs, so there is no offline mode.
func runDevices(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "forget" {
		fmt.Fprintln(stderr, "Usage: mqflux devices forget [flags] NAME   (mqflux devices forget -h for its flags)")
		return errUsage
	}
	fs := newFlags("devices forget", stderr)
	path := fs.String("config", "", "configuration file: where the server's HTTP API listens (default: built-in defaults)")
	data := fs.Bool("data", false, "also delete the device's series from the first output (InfluxDB)")
	creds := addLoginFlags(fs, "admin")
	// NAME may come before or after the flags.
	rest := args[1:]
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		fmt.Fprintln(stderr, "Usage: mqflux devices forget [flags] NAME: one device name")
		return errUsage
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	login, err := creds.login()
	if err != nil {
		return err
	}
	return forgetThroughServer(ctx, cfg.HTTP.Address, name, *data, login, stdout)
}

func forgetThroughServer(ctx context.Context, addr, name string, data bool, login [2]string, stdout io.Writer) error {
	u := "http://" + addr + "/v1/devices/" + url.PathEscape(name)
	if data {
		u += "?data=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return fmt.Errorf("forget %q: %w", name, err)
	}
	if login[0] != "" {
		req.SetBasicAuth(login[0], login[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("forget %q through %s: %w", name, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("forget %q through %s: %s: %s", name, addr, resp.Status, strings.TrimSpace(string(body)))
	}
	var a struct {
		Known        bool     `json:"known"`
		Resolved     []string `json:"resolved"`
		LatestSeries int      `json:"latest_series"`
		DataDeleted  bool     `json:"data_deleted"`
		Output       string   `json:"output"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("forget %q through %s: answer: %w", name, addr, err)
	}
	fmt.Fprintf(stdout, "forgot %s: %s, %d latest series", name, map[bool]string{true: "in the registry", false: "not in the registry"}[a.Known], a.LatestSeries)
	if len(a.Resolved) > 0 {
		fmt.Fprintf(stdout, ", alerts resolved: %s", strings.Join(a.Resolved, ", "))
	}
	if a.DataDeleted {
		fmt.Fprintf(stdout, "; its series deleted from output %s", a.Output)
	}
	fmt.Fprintln(stdout)
	return nil
}
