package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/ratchet-run/ratchet/store"
)

// cmdSalvage copies every intact run and record of the store in DIR into a
// new store in NEWDIR: ratchet salvage DIR NEWDIR. The source is opened
// read-only and never changed. A damaged run is copied with its records
// before the damage (and its index entry as of then); leases are not
// copied. A source whose checkpoint proves data missing (a truncated log)
// is salvaged from its log alone, through a copy of it, so that what is
// left is saved.
func cmdSalvage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, jsonOut := flags("salvage", stdout)
	ops, err := parse(fs, args, 2)
	if err != nil {
		return err
	}
	src, dst := ops[0], ops[1]
	if entries, err := os.ReadDir(dst); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty: salvage writes a new store", dst)
	}
	opts := &store.FileOptions{ReadOnly: true, VerifyLog: true}
	from, err := openStore(src, opts, stderr)
	var missing *store.MissingDataError
	if errors.As(err, &missing) {
		fmt.Fprintf(stderr, "ratchet salvage: %v\nratchet salvage: salvaging from the log alone\n", err)
		tmp, terr := os.MkdirTemp(filepath.Dir(filepath.Clean(dst)), ".ratchet-salvage-*")
		if terr != nil {
			return terr
		}
		defer os.RemoveAll(tmp)
		if terr := copyFile(filepath.Join(src, store.FileLogName), filepath.Join(tmp, store.FileLogName)); terr != nil {
			return terr
		}
		from, err = openStore(tmp, opts, stderr)
	}
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := store.NewFile(dst, nil)
	if err != nil {
		return err
	}
	defer to.Close()

	damaged := map[string]store.Damage{}
	for _, d := range from.Damage() {
		if d.RunID != "" {
			damaged[d.RunID] = d
		}
	}
	infos, err := from.List(ctx, store.Query{})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(infos)+len(damaged))
	for _, ri := range infos {
		ids = append(ids, ri.ID)
	}
	for id := range damaged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	type result struct {
		Run     string `json:"run"`
		Records int    `json:"records"`
		Damage  string `json:"damage,omitempty"`
	}
	var results []result
	for _, id := range ids {
		info, err := from.Get(ctx, id)
		if err != nil && !errors.Is(err, store.ErrDamaged) {
			return err
		}
		recs, err := from.Read(ctx, id, 1)
		if err != nil && !errors.Is(err, store.ErrDamaged) {
			return err
		}
		var de *store.DamagedError
		if _, ok := damaged[id]; !ok && errors.As(err, &de) {
			damaged[id] = de.Damage // found by this Read
		}
		data := make([][]byte, len(recs))
		for i, r := range recs {
			data[i] = r.Data
		}
		info.Lease = store.Lease{}
		if err := to.Create(ctx, info, data); err != nil {
			return fmt.Errorf("copy run %q: %w", id, err)
		}
		res := result{Run: id, Records: len(recs)}
		if d, ok := damaged[id]; ok {
			res.Damage = d.String()
		}
		results = append(results, res)
	}
	var unattributed []string
	for _, d := range from.Damage() {
		if d.RunID == "" {
			unattributed = append(unattributed, d.String())
		}
	}
	if *jsonOut {
		return writeJSON(stdout, struct {
			Runs         []result `json:"runs"`
			Unattributed []string `json:"unattributed"`
		}{append([]result{}, results...), append([]string{}, unattributed...)})
	}
	for _, r := range results {
		if r.Damage != "" {
			fmt.Fprintf(stdout, "%s: %d records copied; the rest is lost: %s\n", r.Run, r.Records, r.Damage)
		} else {
			fmt.Fprintf(stdout, "%s: %d records copied\n", r.Run, r.Records)
		}
	}
	for _, u := range unattributed {
		fmt.Fprintf(stdout, "lost: %s\n", u)
	}
	fmt.Fprintf(stdout, "%d runs salvaged into %s\n", len(results), dst)
	return nil
}

// copyFile copies src to a new file dst (mode 0600).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
