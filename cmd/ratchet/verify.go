package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ratchet-run/ratchet/store"
)

// damageReporter is a store that reports the damage it found (store.File).
type damageReporter interface {
	Damage() []store.Damage
}

// cmdVerify reads and checks the whole store, read-only: ratchet verify.
// The store is opened with VerifyLog, so every frame of the log is read
// and its checksums checked; then every run's records are read. It prints
// a report and fails (exit 1) when anything is damaged. A store whose
// acknowledged data is missing (a truncated log) does not open: that error
// is the report.
func cmdVerify(ctx context.Context, s store.Store, args []string, w io.Writer) error {
	fs, jsonOut := flags("verify", w)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	infos, err := s.List(ctx, store.Query{})
	if err != nil {
		return err
	}
	records := 0
	var problems []string
	for _, ri := range infos {
		rs, err := s.Read(ctx, ri.ID, 1)
		records += len(rs)
		if err != nil && !errors.Is(err, store.ErrDamaged) {
			if !errors.Is(err, store.ErrCorrupt) {
				return err
			}
			problems = append(problems, fmt.Sprintf("run %q: %v", ri.ID, err))
		}
	}
	var damage []store.Damage
	if d, ok := s.(damageReporter); ok {
		damage = d.Damage()
	}
	for _, d := range damage {
		problems = append(problems, d.String())
	}
	if *jsonOut {
		if err := writeJSON(w, struct {
			Runs     int      `json:"runs"`
			Records  int      `json:"records"`
			Damaged  int      `json:"damaged"`
			Problems []string `json:"problems"`
		}{len(infos), records, len(damage), append([]string{}, problems...)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "%d intact runs, %d records read and checked\n", len(infos), records)
		for _, p := range problems {
			fmt.Fprintf(w, "DAMAGED: %s\n", p)
		}
		if len(problems) == 0 {
			fmt.Fprintln(w, "no damage found")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %d problem(s) found; 'ratchet salvage' copies what is intact into a new store", store.ErrCorrupt, len(problems))
	}
	return nil
}
