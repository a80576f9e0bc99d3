package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/input"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The recipes of ARCHITECTURE.md, followed from test files only: a kind
// of input and a kind of notifier registered here, configured from YAML
// with keys of their own, run by a real server.

// feedKind is an input that hands a list of values to its sink, as an
// MQTT-shaped message each.
const feedKind = "test_feed"

type feedSettings struct {
	Device      string    `yaml:"device"`
	Measurement string    `yaml:"measurement"`
	Values      []float64 `yaml:"values"`
}

func (s *feedSettings) Validate(v *configfile.Validator) {
	v.NonEmpty("device", s.Device)
	v.NonEmpty("measurement", s.Measurement)
	if len(s.Values) == 0 {
		v.Add("values", "at least one value")
	}
}

type feed struct {
	input.Base
	s    *feedSettings
	sink input.Sink
	log  *slog.Logger
	wg   sync.WaitGroup
	stop chan struct{}
}

func (f *feed) Start(context.Context) error {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		topic := "devices/" + f.s.Device + "/sensors/" + f.s.Measurement
		for _, v := range f.s.Values {
			payload := []byte(strconv.FormatFloat(v, 'g', -1, 64))
			// As any input does: a full spool is retried, never dropped.
			for {
				err := f.sink.Ingest(topic, payload, time.Now())
				if !errors.Is(err, ingest.ErrFull) {
					if err != nil {
						f.log.Error("feed", "err", err)
					}
					break
				}
				select {
				case <-f.stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}()
	return nil
}

func (f *feed) Stop() error {
	close(f.stop)
	f.wg.Wait()
	return nil
}

// inboxKind is a notifier that hands each transition to the test, by the
// inbox its settings name.
const inboxKind = "test_inbox"

var inboxes sync.Map // inbox name → chan notify.Notification

type inboxSettings struct {
	Inbox string `yaml:"inbox"`
}

func (s *inboxSettings) Validate(v *configfile.Validator) { v.NonEmpty("inbox", s.Inbox) }

type inbox struct {
	notify.Base
	ch chan notify.Notification
}

func (n *inbox) Send(_ context.Context, tr *notify.Notification) error {
	n.ch <- *tr
	return nil
}

func init() {
	input.Register(feedKind, input.Kind[*feedSettings]{
		Default: func() *feedSettings { return &feedSettings{} },
		New: func(name string, s *feedSettings, env input.Env) (input.Input, error) {
			return &feed{Base: input.Base{ID: name}, s: s, sink: env.Sink(name), log: env.Logger, stop: make(chan struct{})}, nil
		},
	})
	notify.Register(inboxKind, notify.Kind[*inboxSettings]{
		Default: func() *inboxSettings { return &inboxSettings{} },
		New: func(b notify.Base, s *inboxSettings, _ notify.Env) (notify.Notifier, error) {
			ch, ok := inboxes.Load(s.Inbox)
			if !ok {
				return nil, fmt.Errorf("no inbox %q", s.Inbox)
			}
			return &inbox{Base: b, ch: ch.(chan notify.Notification)}, nil
		},
	})
}

// A test-only input feeds readings through the real pipeline and spool
// into InfluxDB, and a test-only notifier is told of the alert one of
// them fires: neither needed a line outside test files.
func TestRecipesInputAndNotifier(t *testing.T) {
	in := testenv.StartInflux(t)
	inboxCh := make(chan notify.Notification, 16)
	inboxes.Store(t.Name(), inboxCh)
	doc := fmt.Sprintf(`
data_dir: %s
broker: {tcp: "127.0.0.1:%d"}
http: {address: ""}
influx: {url: %q, bucket: %q, flush_interval: 50ms, drain_timeout: 30s}
alerts:
  silent_after: 0s
  check_interval: 50ms
  rules:
    - {name: hot, measurement: recipe_temp, above: 30}
  notify:
    - {kind: %s, name: pager, inbox: %q}
inputs:
  - {kind: %s, name: feed, device: pi-9, measurement: recipe_temp, values: [21, 22, 35, 23]}
`, t.TempDir(), testenv.FreePort(t), in.URL, in.Bucket(), inboxKind, t.Name(), feedKind)
	cfg := DefaultConfig()
	if _, err := configfile.Load([]byte(doc), "recipe.yaml", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	testenv.WaitFor(t, 60*time.Second, "the four fed readings in InfluxDB", func() bool {
		ss, err := in.TryQuery(context.Background(), `SELECT count("value") FROM "recipe_temp"`)
		return err == nil && len(ss) > 0 && len(ss[0].Values) > 0 && fmt.Sprint(ss[0].Values[0][1]) == "4"
	})
	var got []string
	deadline := time.After(60 * time.Second)
	for len(got) < 2 {
		select {
		case n := <-inboxCh:
			got = append(got, n.Device+" "+n.Rule+" "+n.State)
		case <-deadline:
			t.Fatalf("the inbox notifier got %q; want the hot alert firing and resolving", got)
		}
	}
	if want := "pi-9 hot firing,pi-9 hot resolved"; fmt.Sprint(got[0], ",", got[1]) != want {
		t.Errorf("the inbox notifier got %q, want %s", got, want)
	}
}

// A kind's keys are its own: a key it does not have is reported with its
// place, and an inputs entry may not take a built-in input's name.
func TestInputEntries(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"inputs: [{kind: test_feed, device: d, measurement: m, values: [1], url: x}]", "c.yaml:1:68: inputs[0].url: unknown key; known keys here: device, measurement, values"},
		{"inputs: [{kind: kafka}]", `inputs[0].kind: "kafka" is not a kind of input`},
		{"inputs: [{kind: test_feed, device: d, measurement: m}]", "inputs[0].values: at least one value"},
		{"inputs: [{kind: test_feed, name: http, device: d, measurement: m, values: [1]}]", `inputs[0].name: "http" is taken`},
		{"inputs: [{kind: mqtt, url: 'tcp://b:1883'}]", `inputs[0].name: "mqtt" is taken`},
		{"inputs: [{kind: mqtt, name: up, url: 'tcp://b:1883'}, {kind: mqtt, name: up, url: 'tcp://c:1883'}]", `inputs[1].name: "up" is taken`},
		{"inputs: [{kind: mqtt, name: up, url: 'tcp://b:1883', client_id: up}]", ""},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		_, err := configfile.Load([]byte(c.doc), "c.yaml", &cfg, nil)
		if err == nil {
			err = cfg.Validate()
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.doc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}
