// Command mochipatch keeps the vendored MQTT broker
// (third_party/mochi-mqtt-server) honest: the tree must be the upstream
// release, as the Go module proxy serves it, with the patches of its
// patches/ directory applied in order, byte for byte.
//
//	go run ./internal/tools/mochipatch check        # rebuild and compare; a diff on any difference
//	go run ./internal/tools/mochipatch add [-name short-name]
//	                                                 # the vendored tree's difference as the next patch
//	go run ./internal/tools/mochipatch standalone [-full]
//	                                                 # each Upstream-ready patch alone on the release, with its tests
//
// Run it from the repository's root (make mochi-check, make mochi-patch,
// make mochi-standalone do). It needs go and git.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mochipatch:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mochipatch check|add|standalone [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "third_party/mochi-mqtt-server", "the vendored tree; its patches/ holds the series")
	name := fs.String("name", "", "add: the new patch's short name (default: from its PATCHES.md heading)")
	full := fs.Bool("full", false, "standalone: run the touched packages' whole test suites, not only the tests each patch names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tree, err := openTree(*dir)
	if err != nil {
		return err
	}
	switch cmd {
	case "check":
		return tree.check(stdout)
	case "add":
		file, err := tree.add(*name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s; make mochi-check now passes\n", file)
		return nil
	case "standalone":
		return tree.standalone(stdout, stderr, *full)
	}
	return fmt.Errorf("unknown command %q: check, add or standalone", cmd)
}
