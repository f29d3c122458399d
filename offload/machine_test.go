package offload

import (
	"slices"
	"testing"
	"time"
)

// The machine on a fake clock: every test drives it with made-up times and
// looks, as the loop would after reading the directory.

const quiet = 30 * time.Second

var t0 = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

func lk(size int64, mtime time.Time) look { return look{size: size, mtime: mtime} }

// newTestMachine returns a machine and the set of uploads its state knows.
func newTestMachine() (*machine, map[string]look) {
	done := map[string]look{}
	m := newMachine(quiet, func(name string, l look) bool {
		d, ok := done[name]
		return ok && d.equal(l)
	}, destRetry{min: time.Second, max: 8 * time.Second})
	return m, done
}

// settleAll settles every due file as unchanged, no twins.
func settleAll(m *machine, now time.Time) {
	for _, name := range m.due(now) {
		m.settle(name, m.files[name].look, true, false, now)
	}
}

func TestMachineQuietPeriodRestartsOnEveryEvent(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	m.observe("snap", lk(200, t0.Add(20*time.Second)), true, t0.Add(20*time.Second))
	if got := m.due(t0.Add(quiet)); len(got) != 0 {
		t.Fatalf("due at t0+quiet = %v, want nothing: the second write restarted the wait", got)
	}
	if got, want := m.wake(), t0.Add(20*time.Second+quiet); !got.Equal(want) {
		t.Fatalf("wake = %v, want %v", got, want)
	}
	now := m.wake()
	if got := m.settle("snap", lk(200, t0.Add(20*time.Second)), true, false, now); got != settledQueued {
		t.Fatalf("settle = %v, want queued", got)
	}
	j, ok := m.next(now)
	if !ok || j.name != "snap" || j.look.size != 200 {
		t.Fatalf("next = %+v %v, want snap at 200 bytes", j, ok)
	}
}

func TestMachineSettleRearmsAChangedFile(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	now := t0.Add(quiet)
	// No event came, but the file grew: a writer that fsnotify missed.
	if got := m.settle("snap", lk(150, t0.Add(time.Second)), true, false, now); got != settledRearmed {
		t.Fatalf("settle = %v, want rearmed", got)
	}
	if _, ok := m.next(now); ok {
		t.Fatal("a changed file was handed out for upload")
	}
	if got, want := m.wake(), now.Add(quiet); !got.Equal(want) {
		t.Fatalf("wake = %v, want %v", got, want)
	}
}

func TestMachineFileChangedDuringUpload(t *testing.T) {
	m, done := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	now := t0.Add(quiet)
	settleAll(m, now)
	j, _ := m.next(now)
	// An event while the upload runs arms a new quiet period.
	m.observe("snap", lk(300, now.Add(time.Second)), true, now.Add(time.Second))
	if got := m.due(now.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("due while uploading = %v, want nothing", got)
	}
	done["snap"] = j.look // the state records what was uploaded
	m.done("snap", verdictUploaded)
	if m.pending() != 1 {
		t.Fatal("a file that changed during its upload was forgotten")
	}
	later := now.Add(time.Second + quiet)
	settleAll(m, later)
	if j2, ok := m.next(later); !ok || j2.look.size != 300 {
		t.Fatalf("next = %+v %v, want the new 300 bytes", j2, ok)
	}
}

func TestMachineChangedVerdictWaitsForTheNextLook(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	settleAll(m, t0.Add(quiet))
	m.next(t0.Add(quiet))
	m.done("snap", verdictChanged)
	if _, ok := m.next(t0.Add(quiet)); ok {
		t.Fatal("a file that changed while read was handed out again at once")
	}
	m.observe("snap", lk(120, t0.Add(quiet)), true, t0.Add(quiet)) // the caller looks again
	if got, want := m.wake(), t0.Add(2*quiet); !got.Equal(want) {
		t.Fatalf("wake = %v, want %v", got, want)
	}
}

func TestMachineDeletionBeforeUpload(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	if !m.observe("snap", look{}, false, t0.Add(time.Second)) {
		t.Fatal("observe of a deleted file did not report it forgotten")
	}
	if m.pending() != 0 || len(m.due(t0.Add(time.Hour))) != 0 {
		t.Fatal("a deleted file is still tracked")
	}
	// Deleted between its quiet period's end and the look at it.
	m.observe("other", lk(1, t0), true, t0)
	if got := m.settle("other", look{}, false, false, t0.Add(quiet)); got != settledGone || m.pending() != 0 {
		t.Fatalf("settle = %v, pending %d; want gone and nothing pending", got, m.pending())
	}
}

func TestMachineDeletionDuringUploadLeavesItToTheResult(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	settleAll(m, t0.Add(quiet))
	m.next(t0.Add(quiet))
	if m.observe("snap", look{}, false, t0.Add(quiet)) {
		t.Fatal("a file being uploaded was forgotten on its delete event")
	}
	m.scanned(map[string]bool{})
	if m.pending() != 1 {
		t.Fatal("a scan forgot a file being uploaded")
	}
	m.done("snap", verdictGone)
	if m.pending() != 0 {
		t.Fatal("verdictGone left the file tracked")
	}
}

func TestMachineBackoffGrowsToItsCapAndGatesUploads(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("snap", lk(100, t0), true, t0)
	now := t0.Add(quiet)
	settleAll(m, now)
	var delays []time.Duration
	for range 6 {
		j, ok := m.next(now)
		if !ok {
			t.Fatalf("nothing to upload at %v", now)
		}
		m.done(j.name, verdictDestFailed)
		step := m.retry(j.name, now)
		delays = append(delays, step.delay)
		if _, ok := m.next(now.Add(step.delay - time.Millisecond)); ok {
			t.Fatalf("an upload started before the backoff of %v ended", step.delay)
		}
		if got, want := m.wake(), now.Add(step.delay); !got.Equal(want) {
			t.Fatalf("wake = %v, want the retry at %v", got, want)
		}
		now = now.Add(step.delay)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(delays, want) {
		t.Fatalf("delays = %v, want %v", delays, want)
	}
	j, _ := m.next(now)
	if got := m.done(j.name, verdictUploaded); got != 6 {
		t.Fatalf("recovered after %d failures, want 6", got)
	}
	if got := m.attempts("snap"); got != 0 {
		t.Fatalf("attempts after success = %d, want 0 (forgotten)", got)
	}
}

func TestDestRetryLogsTheFirstFailureThenOncePerInterval(t *testing.T) {
	d := destRetry{min: time.Second, max: time.Minute}
	var logged, unlogged int
	for i := range 100 {
		step := d.failed(t0.Add(time.Duration(i) * 2 * time.Second))
		if step.log {
			logged++
			unlogged += step.unlogged
		}
	}
	// 100 failures over 198 s: logged at 0 s, 60 s, 120 s and 180 s.
	if logged != 4 || unlogged != 3*29 {
		t.Fatalf("logged %d, unlogged counted %d; want 4 and %d", logged, unlogged, 3*29)
	}
}

func TestMachineRescanArmsByMtime(t *testing.T) {
	m, done := newTestMachine()
	now := t0
	m.seen("old", lk(1, now.Add(-time.Hour)), now)
	m.seen("recent", lk(1, now.Add(-10*time.Second)), now)
	m.seen("future", lk(1, now.Add(6*time.Hour)), now) // a clock-skewed mtime
	done["shipped"] = lk(1, now.Add(-time.Hour))
	if !m.seen("shipped", lk(1, now.Add(-time.Hour)), now) {
		t.Fatal("seen did not report a file the state has as uploaded")
	}
	if got := m.due(now); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("due now = %v, want [old]", got)
	}
	if got := m.due(now.Add(20 * time.Second)); !slices.Equal(got, []string{"old", "recent"}) {
		t.Fatalf("due at +20s = %v, want [old recent]", got)
	}
	if got := m.due(now.Add(quiet)); !slices.Equal(got, []string{"future", "old", "recent"}) {
		t.Fatalf("due at +quiet = %v: a future mtime must not hold a snapshot back longer than the quiet period", got)
	}
	// A rescan does not restart the wait of a file already tracked.
	m.seen("recent", lk(1, now.Add(-10*time.Second)), now.Add(15*time.Second))
	if got := m.due(now.Add(20 * time.Second)); !slices.Contains(got, "recent") {
		t.Fatal("a rescan pushed back the quiet period of a tracked file")
	}
	m.scanned(map[string]bool{"old": true})
	if m.pending() != 1 {
		t.Fatalf("pending after a scan that found only old = %d, want 1", m.pending())
	}
}

func TestMachineZipTwinShipsOnlyTheZip(t *testing.T) {
	m, _ := newTestMachine()
	raw, zip := "etcd-snapshot-node1-1767240000", "etcd-snapshot-node1-1767240000.zip"
	m.observe(raw, lk(1000, t0), true, t0)
	m.observe(zip, lk(300, t0.Add(time.Second)), true, t0.Add(time.Second))
	now := t0.Add(time.Second + quiet)
	if got := m.due(now); !slices.Equal(got, []string{raw, zip}) {
		t.Fatalf("due = %v, want both, raw first", got)
	}
	if got := m.settle(raw, lk(1000, t0), true, true, now); got != settledTwin {
		t.Fatalf("settle raw with a zip twin = %v, want twin", got)
	}
	if got := m.settle(zip, lk(300, t0.Add(time.Second)), true, false, now); got != settledQueued {
		t.Fatalf("settle zip = %v, want queued", got)
	}
	j, _ := m.next(now)
	if _, more := m.next(now); j.name != zip || more {
		t.Fatalf("next = %s (more: %v), want only the zip", j.name, more)
	}
}

func TestMachineCorruptWaitsForAChange(t *testing.T) {
	m, _ := newTestMachine()
	bad := lk(1000, t0)
	m.observe("snap", bad, true, t0)
	settleAll(m, t0.Add(quiet))
	m.next(t0.Add(quiet))
	m.done("snap", verdictCorrupt)
	if got := m.waiting(); !slices.Equal(got, []string{"snap"}) {
		t.Fatalf("waiting = %v, want [snap]", got)
	}
	// Neither an event with the same look nor a rescan retries the same bytes.
	m.observe("snap", bad, true, t0.Add(time.Minute))
	m.seen("snap", bad, t0.Add(time.Minute))
	if !m.wake().IsZero() {
		t.Fatal("the same corrupt bytes were armed again")
	}
	m.observe("snap", lk(1024, t0.Add(time.Minute)), true, t0.Add(time.Minute))
	if got, want := m.wake(), t0.Add(time.Minute+quiet); !got.Equal(want) {
		t.Fatalf("wake after a change = %v, want %v", got, want)
	}
}

func TestMachineUnreadableIsRetriedByTheNextRescan(t *testing.T) {
	m, _ := newTestMachine()
	l := lk(1000, t0)
	m.observe("snap", l, true, t0)
	settleAll(m, t0.Add(quiet))
	m.next(t0.Add(quiet))
	m.done("snap", verdictUnreadable)
	if !m.wake().IsZero() {
		t.Fatal("an unreadable file was retried before a rescan")
	}
	m.seen("snap", l, t0.Add(time.Hour))
	if got, want := m.wake(), t0.Add(time.Hour+quiet); !got.Equal(want) {
		t.Fatalf("wake after the rescan = %v, want %v", got, want)
	}
}

// Two snapshots pending through an outage: while the retry of one runs,
// the machine must not ask to be woken at the retry time, which has
// passed, or the loop would spin until the upload ends.
func TestMachineNoWakeInThePastWhileARetryRuns(t *testing.T) {
	m, _ := newTestMachine()
	m.observe("a", lk(1, t0), true, t0)
	m.observe("b", lk(1, t0), true, t0)
	now := t0.Add(quiet)
	settleAll(m, now)
	j, _ := m.next(now)
	m.done(j.name, verdictDestFailed)
	step := m.retry(j.name, now)
	now = now.Add(step.delay + time.Second)
	if _, ok := m.next(now); !ok {
		t.Fatal("nothing to retry after the backoff")
	}
	if w := m.wake(); !w.IsZero() && w.Before(now) {
		t.Fatalf("wake = %v, in the past at %v while an upload runs", w, now)
	}
}
