package offload

import (
	"slices"
	"time"
)

// tracked is a snapshot seen and not uploaded yet.
type tracked struct {
	look      look
	due       time.Time // quiet period ends; zero when not waiting
	queued    bool
	uploading bool
	failed    bool // failed a check or a read: waits for a change or a rescan
	corrupt   bool // failed its integrity check: waits for a change
	attempts  int
}

// machine decides, for each snapshot of the directory, when it has been
// quiet long enough to upload, and in which order. It does no I/O and reads
// no clock: its caller says what it saw of a file and when, and runs the
// uploads it hands out, so it runs in tests on a fake clock.
type machine struct {
	quiet    time.Duration
	uploaded func(name string, l look) bool // the state has this very file as uploaded
	dest     destRetry

	files map[string]*tracked
	queue []string // quiet and unchanged, in the order their quiet periods ended
}

func newMachine(quiet time.Duration, uploaded func(string, look) bool, dest destRetry) *machine {
	return &machine{quiet: quiet, uploaded: uploaded, dest: dest, files: map[string]*tracked{}}
}

// observe takes an event on name, which now looks like l (present false:
// gone, or no longer a regular file), and (re)starts its quiet period. It
// reports whether it forgot a file deleted before its upload.
func (m *machine) observe(name string, l look, present bool, now time.Time) (forgotten bool) {
	if !present {
		return m.gone(name)
	}
	if m.uploaded(name, l) {
		m.forget(name)
		return false
	}
	t := m.track(name)
	if t.corrupt && t.look.equal(l) {
		return false // the same bytes that failed their check: wait for a change
	}
	t.look, t.due, t.failed, t.corrupt = l, now.Add(m.quiet), false, false
	m.unqueue(name)
	return false
}

// seen takes a file found by a scan. One not tracked yet counts its quiet
// period from its mtime, so a snapshot written while offload was down goes
// at once; an mtime in the future (a skewed clock) counts as now. It
// reports whether the state has the file as uploaded already.
func (m *machine) seen(name string, l look, now time.Time) (uploaded bool) {
	if m.uploaded(name, l) {
		return true
	}
	if t, ok := m.files[name]; ok {
		if t.failed && !(t.corrupt && t.look.equal(l)) {
			m.observe(name, l, true, now) // a read error is retried at each rescan
		}
		return false
	}
	t := m.track(name)
	t.look, t.due = l, l.mtime.Add(m.quiet)
	if t.due.Before(now) {
		t.due = now
	}
	if latest := now.Add(m.quiet); t.due.After(latest) {
		t.due = latest
	}
	return false
}

// scanned ends a scan: tracked files it did not find are forgotten, unless
// an upload of them is running (its result decides).
func (m *machine) scanned(present map[string]bool) {
	for name, t := range m.files {
		if !present[name] && !t.uploading {
			m.forget(name)
		}
	}
}

// due lists the files whose quiet period is over at now, oldest first (k3s
// names sort by time within a prefix). The caller looks at each again and
// settles it.
func (m *machine) due(now time.Time) []string {
	var names []string
	for name, t := range m.files {
		if !t.due.IsZero() && !t.due.After(now) && !t.uploading {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// settlement is what ending a file's quiet period did.
type settlement int

const (
	settledQueued   settlement = iota // unchanged: queued for upload
	settledRearmed                    // changed since: waits again
	settledGone                       // deleted: forgotten
	settledTwin                       // a raw snapshot whose .zip twin is there: only the zip goes
	settledUploaded                   // the state has it already
)

// settle ends the quiet period of a due file that now looks like l; twin
// says whether its compressed twin <name>.zip exists.
func (m *machine) settle(name string, l look, present, twin bool, now time.Time) settlement {
	t, ok := m.files[name]
	if !ok {
		return settledGone
	}
	t.due = time.Time{}
	switch {
	case !present:
		m.forget(name)
		return settledGone
	case !l.equal(t.look):
		t.look, t.due = l, now.Add(m.quiet)
		return settledRearmed
	case twin:
		// k3s compresses a raw snapshot into <name>.zip, then deletes the
		// raw one: while the zip is there, it is the one to ship.
		m.forget(name)
		return settledTwin
	case m.uploaded(name, t.look):
		m.forget(name)
		return settledUploaded
	}
	t.queued = true
	m.queue = append(m.queue, name)
	return settledQueued
}

// unreadable marks a due file that could not be looked at: it waits for
// the next rescan.
func (m *machine) unreadable(name string) {
	if t, ok := m.files[name]; ok {
		t.due, t.failed = time.Time{}, true
	}
}

// job is one upload: the file and the look its quiet period ended on.
type job struct {
	name string
	look look
}

// next hands out the file to upload now, if the destination may be tried.
func (m *machine) next(now time.Time) (job, bool) {
	if len(m.queue) == 0 || !m.dest.ready(now) {
		return job{}, false
	}
	name := m.queue[0]
	m.queue = m.queue[1:]
	t := m.files[name]
	t.queued, t.uploading = false, true
	t.attempts++
	return job{name, t.look}, true
}

// done applies the verdict on name's upload. After verdictChanged the
// caller observes the file again; after verdictDestFailed it either
// retries (retry) or gives up (forget). After a success it reports how
// many destination failures in a row came before.
func (m *machine) done(name string, v verdict) (recoveredAfter int) {
	t, ok := m.files[name]
	if !ok {
		return 0
	}
	t.uploading = false
	switch v {
	case verdictUploaded, verdictPresent:
		recoveredAfter = m.dest.recovered()
		if t.due.IsZero() {
			m.forget(name)
		} // else it changed during the upload and is looked at again
	case verdictCorrupt:
		t.failed, t.corrupt = true, true
	case verdictUnreadable:
		t.failed = true
	case verdictGone:
		m.forget(name)
	}
	return recoveredAfter
}

// retry puts name back at the end of the queue after a destination
// failure and backs the destination off.
func (m *machine) retry(name string, now time.Time) backoffStep {
	step := m.dest.failed(now)
	if t, ok := m.files[name]; ok && t.due.IsZero() && !t.queued {
		t.queued = true
		m.queue = append(m.queue, name)
	}
	return step
}

// attempts is how many uploads of name were started.
func (m *machine) attempts(name string) int {
	if t, ok := m.files[name]; ok {
		return t.attempts
	}
	return 0
}

// wake is when the machine next has something to do (zero: nothing).
// While an upload runs, the queue waits for its result, not for the
// destination's retry time, which may have passed already: a wake at that
// time would come again and again until the upload ends.
func (m *machine) wake() time.Time {
	var next time.Time
	uploading := false
	for _, t := range m.files {
		uploading = uploading || t.uploading
		if !t.due.IsZero() && !t.uploading && (next.IsZero() || t.due.Before(next)) {
			next = t.due
		}
	}
	if at := m.dest.retryAt; len(m.queue) > 0 && !uploading && !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next = at
	}
	return next
}

// waiting lists the files that wait for a change or a rescan: neither
// due, queued nor uploading.
func (m *machine) waiting() []string {
	var names []string
	for name, t := range m.files {
		if t.due.IsZero() && !t.queued && !t.uploading {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// pending is how many files are tracked: seen and not uploaded yet.
func (m *machine) pending() int { return len(m.files) }

func (m *machine) gone(name string) (forgotten bool) {
	t, ok := m.files[name]
	if !ok || t.uploading {
		return false // an upload's result decides
	}
	m.forget(name)
	return true
}

func (m *machine) track(name string) *tracked {
	t, ok := m.files[name]
	if !ok {
		t = &tracked{}
		m.files[name] = t
	}
	return t
}

func (m *machine) forget(name string) {
	m.unqueue(name)
	delete(m.files, name)
}

func (m *machine) unqueue(name string) {
	t, ok := m.files[name]
	if !ok || !t.queued {
		return
	}
	t.queued = false
	if i := slices.Index(m.queue, name); i >= 0 {
		m.queue = slices.Delete(m.queue, i, i+1)
	}
}
