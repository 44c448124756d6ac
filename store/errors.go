package store

import "fmt"

// errorf returns an error that wraps sentinel and says what went wrong.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
