package offload

import (
	"context"
	"time"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// HostLatest is a host's newest complete snapshot, for offsite status.
type HostLatest struct {
	Host      string    `json:"host"`
	Snapshots int       `json:"snapshots"`
	Newest    string    `json:"newest,omitempty"` // empty: none with its sidecar
	Time      time.Time `json:"time,omitzero"`    // when it was taken
}

// LatestSnapshots lists every host prefix of bucket and returns each
// host's newest complete snapshot (one whose sidecar is there), from the
// listings alone: nothing is downloaded or checked, as verify etcd does.
func LatestSnapshots(ctx context.Context, dest rcloneconf.Remote, bucket string) ([]HostLatest, error) {
	ctx = remoteCtx(ctx)
	bucketFs, err := dest.Fs(ctx, bucket)
	if err != nil {
		return nil, rcloneconf.Classify(rcloneconf.MinIO, err)
	}
	hosts, err := listHosts(ctx, bucketFs)
	if err != nil {
		return nil, err
	}
	latest := make([]HostLatest, 0, len(hosts))
	for _, host := range hosts {
		objs, err := listHost(ctx, bucketFs, host)
		if err != nil {
			return latest, err
		}
		name, at, _ := objs.newest(ctx, time.Now()) // one dated in the future is verify etcd's to name
		latest = append(latest, HostLatest{Host: host, Snapshots: len(objs.snapshots), Newest: name, Time: at})
	}
	return latest, nil
}
