package store

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Helpers shared by the implementations in this package: normalisation of
// caller values on the way in, copies on the way out, checks and ordering.

// normTime returns t in UTC without a monotonic clock reading, the form every
// store in this package keeps and returns.
func normTime(t time.Time) time.Time {
	return t.UTC()
}

// normMeta returns m with its times normalised.
func normMeta(m Meta) Meta {
	m.UpdatedAt = normTime(m.UpdatedAt)
	m.WakeAt = normTime(m.WakeAt)
	return m
}

// newRunInfo returns the index entry Create makes of info and n records:
// times normalised, labels copied (nil when empty), the store-owned fields
// reset.
func newRunInfo(info RunInfo, n int) RunInfo {
	info.CreatedAt = normTime(info.CreatedAt)
	info.Meta = normMeta(info.Meta)
	info.SnapshotSeq = 0
	info.LastSeq = uint64(n)
	info.Lease = Lease{}
	info.Labels = cloneLabels(info.Labels)
	return info
}

// cloneLabels copies labels; an empty map becomes nil.
func cloneLabels(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	return maps.Clone(labels)
}

// cloneInfo returns a copy of info that shares nothing mutable with it.
func cloneInfo(info RunInfo) RunInfo {
	info.Labels = cloneLabels(info.Labels)
	return info
}

// checkRecords returns ErrTooLarge if a record is longer than limit bytes.
func checkRecords(op, runID string, records [][]byte, limit int) error {
	for i, r := range records {
		if len(r) > limit {
			return errorf(ErrTooLarge, "%s %q: record %d is %d bytes, limit %d", op, runID, i, len(r), limit)
		}
	}
	return nil
}

// sortInfos orders infos as List returns them: newest CreatedAt first, then
// by ID.
func sortInfos(infos []RunInfo) {
	slices.SortFunc(infos, func(a, b RunInfo) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// limitInfos applies q.Limit to sorted infos.
func limitInfos(infos []RunInfo, q Query) []RunInfo {
	if q.Limit > 0 && len(infos) > q.Limit {
		return infos[:q.Limit]
	}
	return infos
}
