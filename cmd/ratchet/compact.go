package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ratchet-run/ratchet/store"
)

// compacter is a store that can rewrite its log (store.File).
type compacter interface {
	Compact(ctx context.Context) error
}

// cmdCompact rewrites a File store's log with its live runs only:
// ratchet compact. It needs the store to itself: with any other process
// holding it open it fails with store.ErrBusy and changes nothing.
func cmdCompact(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("compact", w)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, ok := s.(compacter)
	if !ok {
		return errors.New("this store cannot be compacted")
	}
	if err := c.Compact(ctx); err != nil {
		if errors.Is(err, store.ErrBusy) {
			return fmt.Errorf("%w (stop the processes using it first)", err)
		}
		return err
	}
	if *jsonOut {
		return writeJSON(w, struct {
			Op string `json:"op"`
		}{"compact"})
	}
	_, err := fmt.Fprintln(w, "log compacted")
	return err
}
