// Command guessers floods an MQTT broker with wrong-password CONNECTs, as a
// password-guessing attacker would, from many loopback source addresses
// (127.0.1.1, 127.0.1.2, ...) so that each attacker meets the broker's
// per-address backoff on its own. It runs until interrupted or -duration
// passes and prints how many guesses were sent, refused and accepted (an
// accepted guess is a bug in the broker).
//
// BENCHMARKS.md measures a legitimate device's PUBACK rate with and
// without it (bench/auth-flood.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
)

func main() {
	broker := flag.String("broker", "127.0.0.1:1883", "broker address (host:port)")
	attackers := flag.Int("attackers", 32, "parallel guessers, each from a loopback address of its own")
	user := flag.String("user", "demo-device", "user name to guess for; every other attacker uses an unknown name")
	duration := flag.Duration("duration", 0, "stop after this long; 0 = until interrupted")
	flag.Parse()
	if *attackers < 1 || *attackers > 254 {
		fmt.Fprintln(os.Stderr, "guessers: -attackers must be 1 to 254")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var c counts
	var wg sync.WaitGroup
	for i := range *attackers {
		name := *user
		if i%2 == 1 {
			name = fmt.Sprintf("no-such-user-%d", i) // unknown names must cost the broker the same
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, *broker, net.IPv4(127, 0, 1, byte(i+1)), name)
		}()
	}
	wg.Wait()
	fmt.Printf("guesses %d refused %d accepted %d errors %d\n", c.sent.Load(), c.refused.Load(), c.accepted.Load(), c.errors.Load())
	if c.accepted.Load() > 0 {
		os.Exit(1)
	}
}

// counts are the guessers' totals.
type counts struct {
	sent, refused, accepted, errors atomic.Int64
}

// run guesses from local until ctx ends.
func (c *counts) run(ctx context.Context, broker string, local net.IP, user string) {
	for ctx.Err() == nil {
		ok, err := guess(ctx, broker, local, user)
		if err != nil {
			c.errors.Add(1)
			time.Sleep(10 * time.Millisecond) // a refused dial must not spin
			continue
		}
		c.sent.Add(1)
		if ok {
			c.accepted.Add(1)
		} else {
			c.refused.Add(1)
		}
	}
}

// guess sends one CONNECT with a wrong password from local and reports
// whether the broker accepted it; a CONNACK refusing it or a closed
// connection is a refusal.
func guess(ctx context.Context, broker string, local net.IP, user string) (bool, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return false, fmt.Errorf("dial %s from %s: %w", broker, local, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{Username: user, Password: "wrong-password", CleanSession: true, KeepAlive: 60})
	if err != nil {
		return false, fmt.Errorf("encode CONNECT: %w", err)
	}
	if _, err := conn.Write(pkt); err != nil {
		return false, fmt.Errorf("write CONNECT: %w", err)
	}
	p, err := mqttwire.NewReader(conn, 1<<10).Next()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, fmt.Errorf("read CONNACK: %w", err)
	}
	if err != nil {
		return false, nil // refused by closing
	}
	return p.Type == mqttwire.CONNACK && len(p.Body) >= 2 && p.Body[1] == 0, nil
}
