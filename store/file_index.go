package store

import (
	"encoding/json"
	"sort"
)

// The in-memory index of a File store: for every run its RunInfo and where
// in the log its record-carrying frames are. It is rebuilt from the log when
// a store opens and kept up to date by group commits and by catching up on
// frames other processes wrote.

// fileRun is one run in a File store's index.
type fileRun struct {
	info RunInfo
	// entries are the run's frames that carry records, in sequence order.
	// The slice is only ever appended to, so a reader may keep a copy of
	// the slice header after releasing the index lock.
	entries []walEntry
}

// walEntry locates one frame carrying records of a run.
type walEntry struct {
	seq  uint64 // sequence of the frame's first record
	off  int64  // offset of the frame in the log
	size uint32 // total length of the frame, header included
}

// entryFor returns the index of the entry holding record seq, which must be
// at least the first entry's sequence.
func entryFor(entries []walEntry, seq uint64) int {
	return sort.Search(len(entries), func(i int) bool { return entries[i].seq > seq }) - 1
}

// rawMetas holds, for each run a scan touched, the JSON of the last Meta
// it read, so that only that one is decoded (decoding every frame's Meta
// would dominate the time to open a store).
type rawMetas map[*fileRun]*rawMeta

// rawMeta is the undecoded JSON of a run's Meta and where it was read.
type rawMeta struct {
	state []byte
	off   int64
}

// applyFrame applies a frame read from the log at off (size bytes long) to
// runs, leaving an append's Meta in metas for decodeMetas. A frame that
// does not follow from the index (a second creation, an unknown run, a
// sequence gap, bad JSON) is ErrCorrupt: the log is checksummed, so such a
// frame was written that way.
func applyFrame(runs map[string]*fileRun, metas rawMetas, fr frame, off int64, size int) error {
	if err := ValidateID(fr.runID); err != nil {
		return errorf(ErrCorrupt, "frame at %d: %v", off, err)
	}
	run := runs[fr.runID]
	if fr.kind == kindCreate {
		if run != nil {
			return errorf(ErrCorrupt, "frame at %d creates run %q again", off, fr.runID)
		}
		var info RunInfo
		if err := json.Unmarshal(fr.state, &info); err != nil {
			return errorf(ErrCorrupt, "frame at %d: run info of %q: %v", off, fr.runID, err)
		}
		if info.ID != fr.runID || fr.seq != 1 {
			return errorf(ErrCorrupt, "frame at %d: creation of %q names run %q, first seq %d", off, fr.runID, info.ID, fr.seq)
		}
		run = &fileRun{info: info}
		run.info.LastSeq = 0
		runs[fr.runID] = run
	} else if run == nil {
		return errorf(ErrCorrupt, "frame at %d names unknown run %q", off, fr.runID)
	}

	switch fr.kind {
	case kindCreate:
	case kindAppend:
		if fr.seq != run.info.LastSeq+1 {
			return errorf(ErrCorrupt, "frame at %d: run %q continues at seq %d after %d", off, fr.runID, fr.seq, run.info.LastSeq)
		}
		raw := metas[run]
		if raw == nil {
			raw = &rawMeta{}
			metas[run] = raw
		}
		raw.state, raw.off = append(raw.state[:0], fr.state...), off
	case kindDelete:
		if len(fr.records) != 0 || len(fr.state) != 0 {
			return errorf(ErrCorrupt, "frame at %d: deletion of %q carries data", off, fr.runID)
		}
		delete(runs, fr.runID)
		delete(metas, run)
		return nil
	case kindLease:
		if len(fr.records) != 0 {
			return errorf(ErrCorrupt, "frame at %d: lease change of %q carries records", off, fr.runID)
		}
		var l Lease
		if err := json.Unmarshal(fr.state, &l); err != nil {
			return errorf(ErrCorrupt, "frame at %d: lease of %q: %v", off, fr.runID, err)
		}
		run.info.Lease = l
	}
	if n := len(fr.records); n > 0 {
		run.entries = append(run.entries, walEntry{seq: fr.seq, off: off, size: uint32(size)})
		run.info.LastSeq += uint64(n)
	}
	return nil
}

// decodeMetas sets each run's Meta from metas.
func decodeMetas(metas rawMetas) error {
	for run, raw := range metas {
		var m Meta
		if err := json.Unmarshal(raw.state, &m); err != nil {
			return errorf(ErrCorrupt, "frame at %d: meta of %q: %v", raw.off, run.info.ID, err)
		}
		run.info.Meta = m
	}
	return nil
}
