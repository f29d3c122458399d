package harness

import (
	"bytes"
	"testing"
)

func TestMinioStartStopStart(t *testing.T) {
	m := StartMinio(t, "first")
	m.Put(t, "first", "dir/key with space", []byte("hello"))

	m.Stop()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	got, ok := m.Get(t, "first", "dir/key with space")
	if !ok || !bytes.Equal(got, []byte("hello")) {
		t.Fatalf("after restart got %q (found %v), want %q", got, ok, "hello")
	}
	if got, want := len(m.List(t, "first", "")), 1; got != want {
		t.Fatalf("objects=%d, want %d", got, want)
	}
	if _, ok := m.Get(t, "first", "missing"); ok {
		t.Fatal("missing object reported as found")
	}
}
