package hostlogs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// maxEntry bounds one JSON entry of journalctl: --all prints fields in
// full, and a longer entry (a core dump's message) is skipped and counted.
const maxEntry = 1 << 20

// batchLines is how many entries are appended, and the cursor saved, at
// once when journalctl has more waiting.
const batchLines = 256

// JournalSource runs journalctl as a child process and ships its entries.
type JournalSource struct {
	Journal Journal
	Ship    *Shipper
	Log     *slog.Logger
}

// Args are journalctl's arguments: after the saved cursor when there is
// one (every entry since), else from now on.
func (j *JournalSource) Args(cursor string) []string {
	a := []string{"--output=json", "--follow", "--all", "--quiet", "--no-pager"}
	if cursor != "" {
		a = append(a, "--after-cursor="+cursor, "--lines=all")
	} else {
		a = append(a, "--lines=0")
	}
	if j.Journal.Priority != "" {
		a = append(a, "--priority="+j.Journal.Priority)
	}
	for _, u := range j.Journal.Units {
		a = append(a, "--unit="+u)
	}
	return a
}

// Run follows the journal until ctx is done, starting journalctl again
// (from the cursor) whenever it ends.
func (j *JournalSource) Run(ctx context.Context) {
	bo := backoff.Policy{Min: time.Second, Max: time.Minute}
	failures := 0
	for ctx.Err() == nil {
		got, err := j.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errCursor) {
			// A cursor journalctl cannot seek to (a damaged state file, a
			// journal from another installation) would be refused forever:
			// start at the journal's end, and say so where the lines go.
			j.Log.Error("journalctl refuses the saved cursor; following from the journal's end", "err", err)
			j.Ship.Ship(nil, func(st *State) { st.Journal = "" })
			j.Ship.Note("journalctl refused the saved cursor; journal lines since the last one sent may be missing")
			continue
		}
		if got > 0 {
			failures = 0
		}
		if failures == 0 {
			j.Log.Warn("journalctl ended; starting it again", "err", err)
		}
		if backoff.Sleep(ctx, bo.Delay(failures, 0)) != nil {
			return
		}
		failures++
	}
}

// follow runs journalctl once and returns how many entries it gave.
func (j *JournalSource) follow(ctx context.Context) (int, error) {
	cursor := j.Ship.State().Journal
	cmd := exec.CommandContext(ctx, j.Journal.Command, j.Args(cursor)...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4 << 10}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", j.Journal.Command, err)
	}
	j.Log.Info("following the journal", "command", j.Journal.Command, "after_cursor", cursor != "", "units", j.Journal.Units, "priority", j.Journal.Priority)
	n, rerr := j.read(bufio.NewReaderSize(out, 64<<10))
	werr := cmd.Wait()
	msg := strings.TrimSpace(stderr.String())
	if msg != "" {
		werr = fmt.Errorf("%v: %s", werr, msg)
	}
	if n == 0 && cursor != "" && werr != nil && strings.Contains(strings.ToLower(msg), "cursor") {
		return 0, fmt.Errorf("%w: %w", errCursor, werr)
	}
	return n, errors.Join(rerr, werr)
}

// errCursor is journalctl ending at once over the cursor it was given.
var errCursor = errors.New("saved journal cursor refused")

// read ships entries in batches: as many as are waiting, at most
// batchLines, then the cursor of the last one.
func (j *JournalSource) read(r *bufio.Reader) (int, error) {
	var batch []Line
	cursor, total := "", 0
	flush := func() {
		if cursor == "" && len(batch) == 0 {
			return
		}
		c := cursor
		j.Ship.Ship(batch, func(st *State) {
			if c != "" {
				st.Journal = c
			}
		})
		batch, cursor = batch[:0], ""
	}
	for {
		raw, long, err := readEntry(r)
		if long > 0 {
			j.Log.Warn("journal entry longer than 1MiB; skipped", "bytes", long)
		}
		if raw = bytes.TrimSpace(raw); len(raw) > 0 {
			l, c, perr := parseEntry(raw)
			if perr != nil {
				j.Log.Warn("journal entry unreadable; skipped", "err", perr, "bytes", len(raw))
			} else {
				batch = append(batch, l)
				total++
			}
			if c != "" {
				cursor = c
			}
		}
		if err != nil {
			flush()
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
		if len(batch) >= batchLines || r.Buffered() == 0 {
			flush()
		}
	}
}

// readEntry reads one line; of a line longer than maxEntry, read to its
// end, only its length is returned.
func readEntry(r *bufio.Reader) (line []byte, long int, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		switch {
		case long > 0:
			long += len(chunk)
		case len(line)+len(chunk) > maxEntry:
			long, line = len(line)+len(chunk), nil
		default:
			line = append(line, chunk...)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, long, err
		}
	}
}

// levels is PRIORITY (0 to 7) as a word.
func level(p string) string {
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n < len(Levels) {
		return Levels[n]
	}
	return ""
}

// parseEntry reads one `journalctl -o json` entry: MESSAGE (a string, an
// array of bytes when it is not valid UTF-8 or holds control characters,
// null when it was too large to print), PRIORITY, _SYSTEMD_UNIT or else
// SYSLOG_IDENTIFIER, _PID, __REALTIME_TIMESTAMP (µs) and __CURSOR.
func parseEntry(raw []byte) (Line, string, error) {
	var e map[string]json.RawMessage
	if err := json.Unmarshal(raw, &e); err != nil {
		return Line{}, "", fmt.Errorf("not a JSON object: %w", err)
	}
	cursor := field(e["__CURSOR"])
	msg, ok := e["MESSAGE"]
	if !ok {
		return Line{}, cursor, errors.New("entry has no MESSAGE")
	}
	l := Line{Message: field(msg), Level: level(field(e["PRIORITY"]))}
	if string(msg) == "null" {
		l.Message = "[message not printed by journalctl]"
	}
	l.Unit = field(e["_SYSTEMD_UNIT"])
	if l.Unit == "" {
		l.Unit = field(e["SYSLOG_IDENTIFIER"])
	}
	if pid, err := strconv.Atoi(field(e["_PID"])); err == nil && pid > 0 {
		l.PID = pid
	}
	if us, err := strconv.ParseInt(field(e["__REALTIME_TIMESTAMP"]), 10, 64); err == nil && us > 0 {
		l.Time = time.UnixMicro(us)
	}
	return l, cursor, nil
}

// field is a journal field as text: a JSON string, an array of byte
// values, or (a field given more than once) an array of those, of which
// the first counts; null and anything else are "".
func field(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case '[':
		var bs []byte
		var nums []uint8
		if json.Unmarshal(raw, &nums) == nil {
			bs = nums
			return string(bs)
		}
		var many []json.RawMessage
		if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
			return field(many[0])
		}
	}
	return ""
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
