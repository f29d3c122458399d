package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"
)

// ErrNoReport says the destination holds no run report yet.
var ErrNoReport = errors.New("no run report found")

// latestRunReports reads the newest run report and, when it is one
// shard's, the newest report of each other shard of the same count, back
// to since (older ones are stale anyway). missing are the shards with no
// report since then. It returns an error wrapping ErrNoReport when there
// is no report at all. Restore reports are passed over.
func latestRunReports(ctx context.Context, fbucket fs.Fs, prefix string, since time.Time) (reports []*Report, missing []int, err error) {
	found := map[int]*Report{}
	var newest *Report
	err = eachReport(ctx, fbucket, prefix, func(r *Report) bool {
		if newest == nil {
			newest = r
			if r.Shard == nil || !r.Shard.Sharded() {
				return false
			}
			found[r.Shard.Index] = r
			return len(found) < r.Shard.Count
		}
		if r.End.Before(since) {
			return false
		}
		if sh := r.Shard; sh != nil && sh.Count == newest.Shard.Count && found[sh.Index] == nil {
			found[sh.Index] = r
		}
		return len(found) < newest.Shard.Count
	})
	if err != nil {
		return nil, nil, err
	}
	if newest == nil {
		return nil, nil, fmt.Errorf("%s/%s: %w", fbucket.Root(), prefix, ErrNoReport)
	}
	if newest.Shard == nil || !newest.Shard.Sharded() {
		return []*Report{newest}, nil, nil
	}
	for i := range newest.Shard.Count {
		if r := found[i]; r != nil {
			reports = append(reports, r)
		} else {
			missing = append(missing, i)
		}
	}
	return reports, missing, nil
}

// eachReport calls fn with each mirror run's report under prefix in
// fbucket, newest first, until fn returns false. Anything else there (a
// restore's report, another command's record) is passed over.
func eachReport(ctx context.Context, fbucket fs.Fs, prefix string, fn func(*Report) bool) error {
	keys, err := reportKeys(ctx, fbucket, prefix)
	if err != nil {
		return err
	}
	for _, key := range keys {
		r, err := readReport(ctx, fbucket, key)
		if err != nil {
			return err
		}
		if r.Mode != ModeCopy && r.Mode != ModeSync && r.Mode != ModeAuto {
			continue
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// reportKeys lists the report keys under prefix, newest first: their
// date folder and fixed-width UTC timestamp sort in time order.
func reportKeys(ctx context.Context, fbucket fs.Fs, prefix string) ([]string, error) {
	var keys []string
	err := walk.ListR(ctx, fbucket, prefix, true, -1, walk.ListObjects, func(entries fs.DirEntries) error {
		for _, e := range entries {
			rel := strings.TrimPrefix(e.Remote(), prefix+"/")
			day, name, ok := strings.Cut(rel, "/")
			if ok && len(day) == len("2006-01-02") && strings.HasSuffix(name, ".json") && !strings.Contains(name, "/") {
				keys = append(keys, e.Remote())
			}
		}
		return nil
	})
	if errors.Is(err, fs.ErrorDirNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list reports under %s: %w", prefix, err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	return keys, nil
}

// maxReportSize bounds what is read of a report. offsite's own are a few
// hundred bytes per bucket (at most maxNamedObjects names each); an object
// much larger under the report prefix is not one of them, and reading it
// whole could exhaust the pod's memory.
const maxReportSize = 16 << 20

func readReport(ctx context.Context, fbucket fs.Fs, key string) (*Report, error) {
	var r Report
	if err := readJSON(ctx, fbucket, key, &r); err != nil {
		return nil, err
	}
	// Bounded as the settings that write it: a shard count from a report
	// sizes what verify holds.
	if sh := r.Shard; sh != nil && (sh.Count < 1 || sh.Count > maxShards || sh.Index < 0 || sh.Index >= sh.Count) {
		return nil, fmt.Errorf("report %s: shard %d of %d is out of range (at most %d shards): not a report offsite wrote; move it out of the report prefix", key, sh.Index, sh.Count, maxShards)
	}
	r.Location = key
	return &r, nil
}

// readJSON reads the JSON object at key in fbucket into v, refusing one
// larger than a report can be: not one offsite wrote.
func readJSON(ctx context.Context, fbucket fs.Fs, key string, v any) error {
	o, err := fbucket.NewObject(ctx, key)
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	if o.Size() > maxReportSize {
		return fmt.Errorf("%s is %d bytes, over the %d a report can be: not one offsite wrote; move it out of the report prefix", key, o.Size(), maxReportSize)
	}
	in, err := o.Open(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, maxReportSize+1))
	switch {
	case err != nil:
		return fmt.Errorf("read %s: %w", key, err)
	case len(data) > maxReportSize:
		return fmt.Errorf("%s is over the %d bytes a report can be: not one offsite wrote; move it out of the report prefix", key, maxReportSize)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", key, err)
	}
	return nil
}

// cleanlyCopied returns which of buckets an earlier report shows copied or
// synced with status ok: auto mode syncs only those.
func cleanlyCopied(ctx context.Context, fbucket fs.Fs, prefix string, buckets []string) (map[string]bool, error) {
	clean := map[string]bool{}
	err := eachReport(ctx, fbucket, prefix, func(r *Report) bool {
		for _, b := range r.cleanBuckets() {
			clean[b] = true
		}
		for _, b := range buckets {
			if !clean[b] {
				return true
			}
		}
		return false
	})
	return clean, err
}

// cleanBuckets are the buckets r shows copied or synced with status ok in
// a real run (a dry run copies nothing).
func (r *Report) cleanBuckets() []string {
	var clean []string
	if r.DryRun {
		return nil
	}
	for _, b := range r.Buckets {
		if b.Status == StatusOK && (b.Mode == ModeCopy || b.Mode == ModeSync) {
			clean = append(clean, b.Name)
		}
	}
	return clean
}
