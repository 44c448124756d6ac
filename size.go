package ratchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/ratchet-run/ratchet/store"
)

// Size limits. A store limits the size of one record (store.ErrTooLarge);
// the runtime keeps every record it appends under that limit, so that no
// size of state, response or tool result stops a run:
//
//   - snapshots are incremental and bounded (SnapshotMaxBytes);
//   - a tool result is cut to fit (TruncationMarker, ToolResult.OriginalBytes);
//   - a model response too large to persist is a *ModelError of kind
//     ModelResponseTooLarge: its usage is counted, the retry policy applies,
//     then the run pauses.

// RecordSizer is implemented by stores that say how large a record they
// accept (store.Memory and store.File do). The runtime keeps the records it
// appends within that size; for a store that does not implement it, within
// store.MaxRecordSizeDefault (4 MiB). A store that rejects a record all the
// same (store.ErrTooLarge) gets a tool result cut harder once more; a
// model response is then recorded as too large.
type RecordSizer interface {
	// MaxRecordSize returns the size in bytes of the largest record that
	// Create and Append accept.
	MaxRecordSize() int
}

// SnapshotMaxBytes bounds the size of a snapshot record (or half the
// store's record limit, if less). A snapshot holds the run's state without
// its history, and the messages added since the previous snapshot; when
// those make it larger, it leaves them out (the records since the previous
// snapshot are folded on loading), and when even the state without them is
// larger, no snapshot is written.
const SnapshotMaxBytes = 1 << 20

// recordLimit returns the largest record the run's store takes.
func (r *Run) recordLimit() int {
	lim := store.MaxRecordSizeDefault
	if rs, ok := r.a.cfg.Store.(RecordSizer); ok {
		if n := rs.MaxRecordSize(); n > 0 {
			lim = n
		}
	}
	if r.learnedLimit > 0 && r.learnedLimit < lim {
		lim = r.learnedLimit
	}
	return lim
}

// RecordTooLargeError is the error of an append with a record over the
// store's record limit (it matches store.ErrTooLarge). Nothing was written
// and the run goes on: the runtime handles it (see RecordSizer).
type RecordTooLargeError struct {
	// Kind is the record's kind.
	Kind RecordKind
	// Size is the record's encoded size in bytes; Limit the store's limit
	// (0 when the store did not say).
	Size, Limit int
	// Err is the store's error, or nil when the runtime found the record
	// too large before giving it to the store.
	Err error
}

// Error describes the record and the limit.
func (e *RecordTooLargeError) Error() string {
	msg := "ratchet: " + string(e.Kind) + " record of " + strconv.Itoa(e.Size) + " bytes is over the store's record limit"
	if e.Limit > 0 {
		msg += " of " + strconv.Itoa(e.Limit) + " bytes"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the store's error.
func (e *RecordTooLargeError) Unwrap() error { return e.Err }

// Is reports whether target is store.ErrTooLarge.
func (e *RecordTooLargeError) Is(target error) bool { return target == store.ErrTooLarge }

// fitRecord is called by stage for rec, whose encoding appended to buf
// is over the record limit: it returns buf with an encoding of rec that
// fits, a tool result cut (rec.Result is replaced), or a
// *RecordTooLargeError.
func (r *Run) fitRecord(rec *Record, buf []byte, size int) ([]byte, error) {
	lim := r.recordLimit()
	if rec.Kind == RecToolFinished && rec.Result != nil {
		res := *rec.Result
		orig := res.OriginalBytes
		if orig == 0 {
			orig = len(res.Content)
		}
		content := res.Content
		res.Content = ""
		rec.Result = &res
		empty, err := appendEncodedRecord(buf, rec)
		if err == nil {
			res.Content = cutToFit(content, orig, lim-(len(empty)-len(buf)))
			res.OriginalBytes = orig
			out, err := appendEncodedRecord(buf, rec)
			if err == nil && len(out)-len(buf) <= lim {
				return out, nil
			}
		}
	}
	return buf, &RecordTooLargeError{Kind: rec.Kind, Size: size, Limit: lim}
}

// tooLargeRetries bounds the appends of a batch tried again after the
// store refused it as too large (see retryTooLarge).
const tooLargeRetries = 4

// retryTooLarge reports whether the batch recs, which the store refused
// with err (store.ErrTooLarge) although its records are within the limit
// the run knows, can be tried again with a smaller limit: it holds a tool
// result to cut, and it was not tried tooLargeRetries times. It lowers the
// run's limit to half the batch's largest record (for the rest of the
// run).
func (r *Run) retryTooLarge(err error, recs []*Record, try int) bool {
	tl, ok := errors.AsType[*RecordTooLargeError](err)
	if !ok || tl.Err == nil || r.broken != nil || try >= tooLargeRetries {
		return false
	}
	for _, rec := range recs {
		if rec.Kind == RecToolFinished && rec.Result != nil {
			r.learnedLimit = max(tl.Size/2, 4<<10)
			return true
		}
	}
	return false
}

// snapshotRecord returns the snapshot record of the run's state, or nil
// when even a snapshot without messages would be over SnapshotMaxBytes.
func (r *Run) snapshotRecord() *Record {
	s := &r.state
	lim := min(SnapshotMaxBytes, r.recordLimit()/2)
	from := min(s.SnapshotMessages, len(s.Messages))
	snap := *s // shallow: encoded at once, and the record is not kept
	snap.Messages = s.Messages[from:len(s.Messages):len(s.Messages)]
	snap.SnapshotMessages = len(s.Messages)
	rec := &Record{Kind: RecSnapshot, State: &snap, MessagesFrom: from}
	if encodedSize(rec) <= lim {
		return rec
	}
	snap.Messages = nil
	rec.MessagesFrom, rec.NoMessages = 0, true
	if encodedSize(rec) <= lim {
		return rec
	}
	return nil
}

// encodedSize is the size of rec's encoding (rec has no times set yet:
// they take no more than a few dozen bytes).
func encodedSize(rec *Record) int {
	b, err := appendEncodedRecord(nil, rec)
	if err != nil {
		return int(^uint(0) >> 1)
	}
	return len(b) + 64
}

// cutNoteMax is the longest note truncateNote appends.
const cutNoteMax = len(TruncationMarker) + len(": showing  of  bytes]") + 2*20

// truncateNote is the note appended to a result cut to its first cut
// bytes of orig.
func truncateNote(cut, orig int) string {
	return TruncationMarker + ": showing " + strconv.Itoa(cut) + " of " + strconv.Itoa(orig) + " bytes]"
}

// cutToFit cuts s (a result of orig bytes, maybe cut before) so that its
// JSON string encoding is at most budget bytes, note included, on a UTF-8
// boundary, and appends the truncation note.
func cutToFit(s string, orig, budget int) string {
	budget -= cutNoteMax + 2 // the quotes
	if budget < 0 {
		budget = 0
	}
	if i := lastNote(s); i >= 0 {
		s = s[:i] // cut before: cut its content, not its note
	}
	cut, n := 0, 0
	for cut < len(s) {
		c, size := utf8.DecodeRuneInString(s[cut:])
		w := runeEncodedLen(c, size)
		if n+w > budget {
			break
		}
		n += w
		cut += size
	}
	return s[:cut] + truncateNote(cut, orig)
}

// lastNote returns where a truncation note starts in s, or -1.
func lastNote(s string) int {
	for i := len(s) - len(TruncationMarker); i >= 0 && i >= len(s)-cutNoteMax; i-- {
		if s[i:i+len(TruncationMarker)] == TruncationMarker {
			return i
		}
	}
	return -1
}

// runeEncodedLen is an upper bound of the length of c, decoded from size
// bytes, encoded in a JSON string (by this package's encoder or
// encoding/json).
func runeEncodedLen(c rune, size int) int {
	switch {
	case c == utf8.RuneError && size == 1:
		return 6 // \ufffd
	case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
		return 2
	case c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029':
		return 6
	}
	return size
}

// fitOutput returns out, a tool's output, cut to the tool's cap (max, <= 0
// for none), and the size of out when it was cut (0 otherwise). The cut
// to fit in a record is made when the record is encoded (checkSize).
func fitOutput(out string, max int) (string, int) {
	if max > 0 && len(out) > max {
		return truncateOutput(out, max), len(out)
	}
	return out, 0
}

// sizeOfResponse returns the encoded size of the model_responded record
// rec, when it may be over lim; 0 when it surely is not (a quick bound).
func sizeOfResponse(rec *Record, lim int) int {
	m := &rec.Response.Message
	n := len(m.Content) + len(m.Refusal) + len(rec.Response.Model)
	for _, c := range m.ToolCalls {
		n += len(c.ID) + len(c.Name) + len(c.Arguments) + 64
	}
	if n*6+1024 <= lim {
		return 0
	}
	b, err := appendEncodedRecord(nil, rec)
	if err != nil {
		j, _ := json.Marshal(rec)
		return len(j)
	}
	return len(b)
}

// afterTooLarge makes the run's state again what the store holds after an
// append that wrote nothing (ErrTooLarge) but may have changed memory the
// state shares with the batch's staged state. It returns err, or the run's
// broken error when the state cannot be loaded.
func (r *Run) afterTooLarge(ctx context.Context, err error) error {
	st, lerr := LoadState(context.WithoutCancel(ctx), r.a.cfg.Store, r.ID())
	if lerr == nil && st.Seq != r.state.Seq {
		lerr = fmt.Errorf("the log is at %d, the run at %d", st.Seq, r.state.Seq)
	}
	if lerr != nil {
		r.broken = fmt.Errorf("%w: run %s: %w", ErrRunBroken, r.ID(), errors.Join(err, lerr))
		return r.broken
	}
	r.state = st
	return err
}

// maxLen returns the length of the longest of data.
func maxLen(data [][]byte) int {
	n := 0
	for _, d := range data {
		n = max(n, len(d))
	}
	return n
}

// notStored returns err, the error of appending the model response resp
// of step st; when the store refused the model_responded record as too
// large, that is handled (responseNotStored).
func (r *Run) notStored(ctx context.Context, st *Step, resp *Response, err error) error {
	if tl, ok := errors.AsType[*RecordTooLargeError](err); ok && tl.Kind == RecModelResponded && r.broken == nil {
		return r.responseNotStored(ctx, st, resp, tl)
	}
	return err
}
