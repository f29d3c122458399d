package mirror

import "sync"

// maxNamedObjects bounds the object names a report lists per kind.
const maxNamedObjects = 20

// names counts objects and keeps the first maxNamedObjects of their
// names, for a report; the log names every one.
type names struct {
	mu    sync.Mutex
	n     int64
	first []string
}

func (l *names) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if len(l.first) < maxNamedObjects {
		l.first = append(l.first, name)
	}
}

func (l *names) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *names) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}
