package offload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	rfs "github.com/rclone/rclone/fs"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// remoteCtx sets rclone's options for offload's remote: few low-level
// retries (the S3 backend takes them from the context it is opened with),
// since offload retries a failing destination itself, with backoff.
func remoteCtx(ctx context.Context) context.Context {
	ctx, ci := rfs.AddConfig(ctx)
	ci.LowLevelRetries = 2
	return ctx
}

// hostObjects is one host prefix's listing: snapshots and sidecars by the
// snapshot name they belong to, and the k3s token, when one is shipped
// (its sidecar is among the sidecars).
type hostObjects struct {
	snapshots map[string]rfs.Object
	sidecars  map[string]rfs.Object
	token     rfs.Object
}

// listHost lists <bucket>/<host>/ on bucketFs (a remote rooted at the bucket).
// A prefix with nothing under it is empty, not an error.
func listHost(ctx context.Context, bucketFs rfs.Fs, host string) (hostObjects, error) {
	h := hostObjects{snapshots: map[string]rfs.Object{}, sidecars: map[string]rfs.Object{}}
	entries, err := bucketFs.List(ctx, host)
	if errors.Is(err, rfs.ErrorDirNotFound) {
		return h, nil
	}
	if err != nil {
		return h, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list %s/: %w", host, err))
	}
	for _, e := range entries {
		o, ok := e.(rfs.Object)
		if !ok {
			continue
		}
		name := strings.TrimPrefix(o.Remote(), host+"/")
		switch snap, ok := strings.CutSuffix(name, SidecarSuffix); {
		case ok:
			h.sidecars[snap] = o
		case name == TokenObject:
			h.token = o
		default:
			h.snapshots[name] = o
		}
	}
	return h, nil
}

// listHosts returns the host prefixes in the bucket.
func listHosts(ctx context.Context, bucketFs rfs.Fs) ([]string, error) {
	hosts, err := rcloneconf.Dirs(ctx, bucketFs, "")
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, fmt.Errorf("list hosts: %w", err))
	}
	return hosts, nil
}

// snapshotTime is when a snapshot was taken: the unix seconds k3s puts at
// the end of its names (<prefix>-<node>-<seconds>[.zip]), else the object's
// modification time. Names carry different prefixes (etcd-snapshot,
// on-demand), so they do not sort by time.
func snapshotTime(name string, modTime time.Time) time.Time {
	base := strings.TrimSuffix(strings.TrimSuffix(name, AgeSuffix), ".zip")
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		if s, err := strconv.ParseInt(base[i+1:], 10, 64); err == nil && s > 1e9 && s < 1e11 {
			return time.Unix(s, 0)
		}
	}
	return modTime
}

// FutureTolerance is how far ahead of now a snapshot's time may be, for
// clocks a little apart. A snapshot dated later would keep its host looking
// fresh until that date: a node whose clock runs ahead, or an object planted
// in the bucket.
const FutureTolerance = 10 * time.Minute

// newest returns the latest complete snapshot of a listing at now: one
// whose sidecar is there, since the sidecar is written last ("" when there
// is none). A newer object without one is an upload in progress or cut
// short. Complete snapshots dated more than FutureTolerance after now are
// never the newest: they are returned in future, by name.
func (h hostObjects) newest(ctx context.Context, now time.Time) (name string, at time.Time, future []string) {
	for n, o := range h.snapshots {
		if _, ok := h.sidecars[n]; !ok {
			continue
		}
		t := snapshotTime(n, o.ModTime(ctx))
		switch {
		case t.After(now.Add(FutureTolerance)):
			future = append(future, n)
		case name == "" || t.After(at) || (t.Equal(at) && n > name):
			name, at = n, t
		}
	}
	sort.Strings(future)
	return name, at, future
}

// sidecarSum reads and parses the sidecar of name.
func (h hostObjects) sidecarSum(ctx context.Context, name string) (string, error) {
	o, ok := h.sidecars[name]
	if !ok {
		remote := name
		if o, ok := h.snapshots[name]; ok {
			remote = o.Remote()
		}
		return "", fmt.Errorf("%w: %s: no sidecar %s%s", ErrCorrupt, remote, remote, SidecarSuffix)
	}
	rc, err := o.Open(ctx)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", o.Remote(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", o.Remote(), err)
	}
	sum, err := ParseSidecar(b, name)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrCorrupt, o.Remote(), err)
	}
	return sum, nil
}
