package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/store"
)

// cmdTail follows a run: ratchet tail RUN [-from SEQ] [-interval 500ms].
// It prints the run's records from SEQ (default 1), then polls the store
// every interval for records appended after the last one printed, until
// the run has ended (succeeded, failed, cancelled) and every record is
// printed, or ctx is done (SIGINT), which is not an error. With -json it
// prints one record object per line (JSON lines), as show -json does. Like
// show, it escapes the control characters of the run's text (escapeText,
// escapeJSON), so that a model or a tool cannot drive the terminal.
func cmdTail(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("tail", w)
	from := fs.Uint64("from", 1, "first sequence to print")
	interval := fs.Duration("interval", 500*time.Millisecond, "how often to poll the store")
	ops, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *interval <= 0 {
		return usagef("-interval must be positive")
	}
	id := ops[0]
	if _, err := s.Get(ctx, id); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return notFound(id, err)
	}
	p := newPrinter(w)
	next := max(*from, 1)
	if next > 1 && !*jsonOut {
		// Calls are announced by model_responded: read from the start to
		// know their arguments, printing from next.
		p.w = io.Discard
		if recs, err := s.Read(ctx, id, 1); err == nil {
			for _, r := range recs {
				if r.Seq >= next {
					break
				}
				p.print(r)
			}
		}
		p.w = w
	}
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		recs, err := s.Read(ctx, id, next)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return notFound(id, err)
		}
		for _, r := range recs {
			if *jsonOut {
				b, err := recordJSON(r)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\n", compact(b))
			} else {
				p.print(r)
			}
			next = r.Seq + 1
		}
		info, err := s.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ratchet.Status(info.Status).Ended() && info.LastSeq < next {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// compact removes insignificant space from a JSON object, so that it fits
// on one line.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
