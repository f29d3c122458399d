package mirror

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Slice is one of Count slices of a bucket's keys, by the keys' hashes:
// runs that take the slices one after another read every key once in
// Count runs. The zero value holds no key.
type Slice struct {
	Index int `json:"index"` // 0-based
	Count int `json:"count"`
}

// Has reports whether key is in the slice.
func (s Slice) Has(key string) bool {
	if s.Count <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32()%uint32(s.Count)) == s.Index
}

// String is "3/20", as the reports show it (1-based, for people).
func (s Slice) String() string { return fmt.Sprintf("%d/%d", s.Index+1, s.Count) }

// maxSlices bounds a share's slices: 0.1%, a thousand runs.
const maxSlices = 1000

// Share is how much of a bucket a run reads beyond the listings: Count
// rotating slices (a percentage: 5% is 20), or one slice given outright
// ("3/20", 1-based). The zero value reads nothing.
type Share struct {
	Count int
	Fixed *Slice
}

// ParseShare parses a share given in variable name: "5%", "3/20", or ""
// and "0%" for none.
func ParseShare(name, s string) (Share, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Share{}, nil
	}
	if num, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		switch {
		case err != nil || !(p >= 0 && p <= 100):
			return Share{}, exitcode.Configf(name, "%q is not a percentage from 0%% to 100%%", s)
		case p == 0:
			return Share{}, nil
		case 100/p > maxSlices:
			return Share{}, exitcode.Configf(name, "%q is less than %g%%: more than %d runs to read everything", s, 100.0/maxSlices, maxSlices)
		}
		return Share{Count: int(math.Ceil(100/p - 1e-9))}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || n > maxSlices || i < 1 || i > n {
		return Share{}, exitcode.Configf(name, "%q is neither a percentage (5%%) nor a slice i/n (3/20, 1 <= i <= n <= %d)", s, maxSlices)
	}
	return Share{Count: n, Fixed: &Slice{Index: i - 1, Count: n}}, nil
}

// rotation remembers, under the report prefix of the destination bucket,
// which slice of a bucket a kind of run (a verify's sample, a mirror's
// audit) reads next.
type rotation struct {
	fbucket fs.Fs
	key     string
}

// newRotation is the rotation of kind for bucket.
func newRotation(fbucket fs.Fs, prefix, kind, bucket string) rotation {
	return rotation{fbucket: fbucket, key: path.Join(prefix, "_offsite-rotation", kind+"-"+bucket+".json")}
}

// slice is the slice of share this run reads: the fixed one, or the one
// after the last run's (the first, when there was none or the count
// changed).
func (r rotation) slice(ctx context.Context, share Share) (Slice, error) {
	if share.Fixed != nil || share.Count == 0 {
		return *orZero(share.Fixed), nil
	}
	var next Slice
	err := readJSON(ctx, r.fbucket, r.key, &next)
	switch {
	case errors.Is(err, fs.ErrorObjectNotFound):
	case err != nil:
		return Slice{}, fmt.Errorf("which slice to read: %w", err)
	case next.Count == share.Count && next.Index >= 0 && next.Index < next.Count:
		return next, nil
	}
	return Slice{Count: share.Count}, nil
}

// advance records that s was read: the next run reads the slice after it.
func (r rotation) advance(ctx context.Context, s Slice) error {
	if s.Count == 0 {
		return nil
	}
	_, err := writeReport(ctx, r.fbucket, Slice{Index: (s.Index + 1) % s.Count, Count: s.Count}, r.key)
	return err
}

func orZero(s *Slice) *Slice {
	if s == nil {
		return &Slice{}
	}
	return s
}
