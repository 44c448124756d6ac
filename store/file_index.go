package store

import (
	"encoding/json"
	"fmt"
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
	// damage, when not nil, is the first damage found in the run's log:
	// records 1..info.LastSeq are intact, the rest is lost.
	damage *Damage
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
	size  int
}

// applyFrame applies a frame read from the log at off (size bytes long) to
// the index, leaving an append's Meta in metas for decodeMetas. A frame
// that does not follow from the index (a second creation, an unknown run,
// a sequence gap, bad JSON) was written that way (the log is checksummed),
// so its run is marked damaged; frames of a damaged run are ignored. f.mu
// must be held for writing.
func (f *File) applyFrame(metas rawMetas, fr frame, off int64, size int) {
	bad := func(format string, args ...any) {
		f.markDamaged(Damage{RunID: fr.runID, Offset: off, Size: int64(size), Reason: fmt.Sprintf(format, args...)})
	}
	if err := ValidateID(fr.runID); err != nil {
		f.markDamaged(Damage{Offset: off, Size: int64(size), Reason: fmt.Sprintf("frame names an invalid run: %v", err)})
		return
	}
	run := f.runs[fr.runID]
	if run != nil && run.damage != nil {
		return // nothing after the damage counts
	}
	if fr.kind == kindCreate {
		if run != nil {
			bad("frame creates the run again")
			return
		}
		var info RunInfo
		if err := json.Unmarshal(fr.state, &info); err != nil {
			bad("run info: %v", err)
			return
		}
		if info.ID != fr.runID || fr.seq != 1 {
			bad("creation names run %q, first seq %d", info.ID, fr.seq)
			return
		}
		run = &fileRun{info: info}
		run.info.LastSeq = 0
		f.runs[fr.runID] = run
	} else if run == nil {
		bad("frame of a run never created (its creation is lost)")
		return
	}

	switch fr.kind {
	case kindCreate:
	case kindAppend:
		if fr.seq != run.info.LastSeq+1 {
			bad("records continue at seq %d after %d (records %d..%d are lost)", fr.seq, run.info.LastSeq, run.info.LastSeq+1, fr.seq-1)
			return
		}
		raw := metas[run]
		if raw == nil {
			raw = &rawMeta{}
			metas[run] = raw
		}
		raw.state, raw.off, raw.size = append(raw.state[:0], fr.state...), off, size
	case kindDelete:
		if len(fr.records) != 0 || len(fr.state) != 0 {
			bad("deletion carries data")
			return
		}
		delete(f.runs, fr.runID)
		delete(metas, run)
		return
	case kindLease:
		if len(fr.records) != 0 {
			bad("lease change carries records")
			return
		}
		var l Lease
		if err := json.Unmarshal(fr.state, &l); err != nil {
			bad("lease: %v", err)
			return
		}
		run.info.Lease = l
	}
	if n := len(fr.records); n > 0 {
		run.entries = append(run.entries, walEntry{seq: fr.seq, off: off, size: uint32(size)})
		run.info.LastSeq += uint64(n)
	}
}

// decodeMetas sets each run's Meta from metas; a run whose Meta does not
// decode is marked damaged. f.mu must be held for writing.
func (f *File) decodeMetas(metas rawMetas) {
	for run, raw := range metas {
		var m Meta
		if err := json.Unmarshal(raw.state, &m); err != nil {
			f.markDamaged(Damage{RunID: run.info.ID, Offset: raw.off, Size: int64(raw.size), Reason: fmt.Sprintf("meta: %v", err)})
			continue
		}
		run.info.Meta = m
	}
}
