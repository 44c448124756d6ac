// Package childprog builds the main package of a test's own directory,
// once per test binary, for tests that run it as a child process (the
// crash, two-scheduler and lease-contention tests).
package childprog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Program is the main package in the current directory, built on first
// use. Its zero value is not usable: make one with New.
type Program struct {
	// Flags are extra go build flags (-race, say); set them before the
	// first Path.
	Flags []string

	name string
	once sync.Once
	path string
	err  error
}

// New returns the program of the current directory, to be built as name.
func New(name string) *Program { return &Program{name: name} }

// Path builds the program on its first call and returns the path of the
// binary, or why it could not be built.
func (p *Program) Path() (string, error) {
	p.once.Do(func() {
		dir, err := os.MkdirTemp("", p.name+"-bin")
		if err != nil {
			p.err = err
			return
		}
		bin := filepath.Join(dir, p.name)
		args := append(append([]string{"build", "-o", bin}, p.Flags...), ".")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			p.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		p.path = bin
	})
	return p.path, p.err
}

// Remove deletes the binary, if it was built; TestMain calls it after the
// tests ran.
func (p *Program) Remove() {
	if p.path != "" {
		_ = os.RemoveAll(filepath.Dir(p.path))
	}
}
