// Package recorder keeps what a callback hears, in order, for a test to
// read: a Log is safe for the goroutines that call it.
package recorder

import "sync"

// Log records values of T; its zero value is empty and ready.
type Log[T any] struct {
	mu   sync.Mutex
	list []T
}

// Add records v.
func (l *Log[T]) Add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, v)
}

// All returns a copy of what has been recorded, oldest first.
func (l *Log[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.list...)
}
