package store

import "time"

// The lease rules, shared by every implementation in this package so that
// they agree exactly. Each function takes the run's current lease and returns
// the next one; none has side effects.

// acquireLease applies AcquireLease's rules to cur.
func acquireLease(runID string, cur Lease, owner string, now, until time.Time) (Lease, error) {
	if owner == "" {
		return Lease{}, errorf(ErrInvalidID, "acquire lease on %q: empty owner", runID)
	}
	until = normTime(until)
	switch {
	case cur.Owner == owner:
		return Lease{Owner: owner, Token: cur.Token, Expires: until}, nil
	case cur.Owner == "" || !now.Before(cur.Expires):
		return Lease{Owner: owner, Token: cur.Token + 1, Expires: until}, nil
	default:
		return Lease{}, errorf(ErrLeased, "acquire lease on %q: held by %q until %s",
			runID, cur.Owner, cur.Expires.Format(time.RFC3339Nano))
	}
}

// renewLease applies RenewLease's rules to cur.
func renewLease(runID string, cur, l Lease, until time.Time) (Lease, error) {
	if !holds(cur, l) {
		return Lease{}, errorf(ErrConflict, "renew lease on %q: token %d of %q is not current", runID, l.Token, l.Owner)
	}
	return Lease{Owner: cur.Owner, Token: cur.Token, Expires: normTime(until)}, nil
}

// releaseLease applies ReleaseLease's rules to cur.
func releaseLease(runID string, cur, l Lease) (Lease, error) {
	if !holds(cur, l) {
		return Lease{}, errorf(ErrConflict, "release lease on %q: token %d of %q is not current", runID, l.Token, l.Owner)
	}
	return Lease{Token: cur.Token}, nil
}

// holds reports whether l is still the holder's view of cur.
func holds(cur, l Lease) bool {
	return cur.Owner != "" && cur.Owner == l.Owner && cur.Token == l.Token
}

// checkFence applies Batch.Fence's rule to cur.
func checkFence(runID string, cur Lease, fence uint64) error {
	if fence == 0 || (cur.Owner != "" && cur.Token == fence) {
		return nil
	}
	return errorf(ErrConflict, "append to %q: fence token %d is not the current lease token %d (owner %q)",
		runID, fence, cur.Token, cur.Owner)
}
