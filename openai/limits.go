package openai

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ratchet-run/ratchet"
)

// TooLargeError is the cause (ratchet.ModelError.Err) of a model error of
// kind response_too_large: the response exceeded one of the Model's size
// limits, and reading stopped there.
type TooLargeError struct {
	// Limit names the Config field the response exceeded:
	// "MaxResponseBytes", "MaxStreamBytes" or "MaxStreamLineBytes".
	Limit string
	// Max is that limit, in bytes.
	Max int64
}

// Error returns "openai: response exceeds <Limit> (<Max> bytes)".
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("openai: response exceeds %s (%d bytes)", e.Limit, e.Max)
}

// tooLarge is the model error for a response over the named limit.
func tooLarge(limit string, max int64) *ratchet.ModelError {
	return &ratchet.ModelError{Kind: ratchet.ModelResponseTooLarge, Err: &TooLargeError{Limit: limit, Max: max}}
}

// errOverLimit is returned by readBody, limitReader and readLine when their
// input goes past their limit; callers turn it into a tooLarge error.
var errOverLimit = errors.New("openai: input over limit")

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// readBody reads all of r, which the server said holds contentLength bytes
// (-1 when it did not say), and returns errOverLimit, having read at most
// max+1 bytes, when it holds more than max. A body of known length costs
// one allocation of its size; one of unknown length is read in chunks of
// up to 1 MiB, joined at the end, so that a body over the limit costs about
// max bytes and one under it about twice its size.
func readBody(r io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength > max {
		return nil, errOverLimit
	}
	size := int64(32 << 10)
	if contentLength >= 0 {
		size = contentLength + 1 // +1: room to see the end
	}
	var (
		chunks [][]byte
		total  int64
	)
	for {
		c := make([]byte, min(size, max+1-total))
		n, err := fill(r, c)
		chunks = append(chunks, c[:n])
		total += int64(n)
		if total > max {
			return nil, errOverLimit
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, 1<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	return bytes.Join(chunks, nil), nil
}

// fill reads from r until b is full or r fails; it returns io.EOF at the
// end of r.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// limitReader reads from r until left bytes have been read, then returns
// errOverLimit if r has more, or r's own end.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.left <= 0 {
		var probe [1]byte
		n, err := l.r.Read(probe[:])
		switch {
		case n > 0:
			return 0, errOverLimit
		case err == nil:
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
