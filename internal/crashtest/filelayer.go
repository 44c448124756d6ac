package main

import (
	"fmt"
	iofs "io/fs"
	"strconv"
	"strings"

	"github.com/ratchet-run/ratchet/internal/faultfs"
	"github.com/ratchet-run/ratchet/store"
)

// noSyncFS is a deliberately broken file layer, for proving that the
// power-loss mode sees a store with fsync switched off: Sync, Datasync
// and SyncDir return nil without doing anything. Close makes the file's
// writes durable first, as an operating system writes its page cache back
// in time when nothing crashes, so that a run without crashes passes.
type noSyncFS struct{ faultfs.FS }

func (fsys noSyncFS) OpenFile(name string, flag int, perm iofs.FileMode) (faultfs.File, error) {
	f, err := fsys.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (fsys noSyncFS) CreateTemp(dir, pattern string) (faultfs.File, error) {
	f, err := fsys.FS.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ faultfs.File }

func (noSyncFile) Sync() error     { return nil }
func (noSyncFile) Datasync() error { return nil }

func (f noSyncFile) Close() error {
	_ = f.File.Datasync()
	return f.File.Close()
}

// parseFault parses CRASH_FAULT, "KIND:ERR:N": the N-th (from 1) write or
// fdatasync of the store's log (KIND "write" or "sync") fails with ERR,
// "EIO", "ENOSPC" (for a write, after 7 of its bytes reached the file) or
// "short" (a write of 7 bytes, io.ErrShortWrite). "none" injects nothing
// (the child still counts the operations).
func parseFault(spec string) (faultfs.Injector, error) {
	if spec == "none" {
		return nil, nil
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("CRASH_FAULT %q: want KIND:ERR:N", spec)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("CRASH_FAULT %q: bad N", spec)
	}
	var kind faultfs.OpKind
	switch parts[0] {
	case "write":
		kind = faultfs.OpWrite
	case "sync":
		kind = faultfs.OpSync
	default:
		return nil, fmt.Errorf("CRASH_FAULT %q: KIND must be write or sync", spec)
	}
	var fault faultfs.Fault
	switch parts[1] {
	case "EIO":
		fault.Err = faultfs.EIO
	case "ENOSPC":
		fault.Err = faultfs.ENOSPC
		if kind == faultfs.OpWrite {
			fault.Written = 7
		}
	case "short":
		if kind != faultfs.OpWrite {
			return nil, fmt.Errorf("CRASH_FAULT %q: only a write can be short", spec)
		}
		fault.Written = 7
	default:
		return nil, fmt.Errorf("CRASH_FAULT %q: ERR must be EIO, ENOSPC or short", spec)
	}
	return faultfs.OnFile(store.FileLogName, faultfs.Nth(kind, n, fault)), nil
}
