// Package runrecord is the small record a check or a drill leaves in the
// bucket it checked (verify rgw, verify etcd, the drills), so that offsite
// status can show the newest of each kind without running it again. It
// knows nothing of rclone: a record is one object, written and read with
// the AWS SDK client rcloneconf builds.
package runrecord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// Kind is what left a record.
type Kind string

// The kinds of record, and the bucket each lives in.
const (
	VerifyRGW  Kind = "verify-rgw"  // the mirror's bucket
	VerifyEtcd Kind = "verify-etcd" // the etcd bucket
	DrillRGW   Kind = "drill-rgw"   // the mirror's bucket
	DrillEtcd  Kind = "drill-etcd"  // the etcd bucket
)

// Status of a record.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// Record is the outcome of one run of a check or a drill.
type Record struct {
	Kind     Kind      `json:"kind"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Status   string    `json:"status"` // ok or failed
	ExitCode int       `json:"exit_code"`
	Summary  string    `json:"summary,omitempty"` // what it covered, in a few words
	Error    string    `json:"error,omitempty"`
	Host     string    `json:"host,omitempty"` // where it ran
	Version  string    `json:"offsite_version,omitempty"`
}

// maxError bounds the error kept: the full one is in the run's log.
const maxError = 2000

// New is the record of a run of kind from start until now that ended
// with err.
func New(kind Kind, start time.Time, summary string, err error) Record {
	r := Record{Kind: kind, Start: start.UTC(), End: time.Now().UTC(), Status: StatusOK, Summary: summary}
	if err != nil {
		r.Status, r.ExitCode, r.Error = StatusFailed, exitcode.Of(err), err.Error()
		if len(r.Error) > maxError {
			r.Error = r.Error[:maxError] + "..."
		}
	}
	return r
}

// Key is where kind's newest record is under prefix: one object per kind,
// replaced by each run (with versioning on, the earlier ones stay as old
// versions for the retention). In the mirror's bucket prefix is the report
// prefix: beside the dated folders of the run reports, whose readers look
// only inside those. In the etcd bucket it is "", the root: a folder there
// would be taken for a host without snapshots.
func Key(prefix string, kind Kind) string {
	return path.Join(prefix, "_offsite-last-"+string(kind)+".json")
}

// maxSize bounds what is read of a record.
const maxSize = 64 << 10

// Put writes r under prefix in bucket, replacing the record of its kind:
// one request.
func Put(ctx context.Context, c *s3.Client, bucket, prefix string, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	key := Key(prefix, r.Kind)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("write %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Get reads kind's record under prefix in bucket: one request. It returns
// nil and no error when there is none.
func Get(ctx context.Context, c *s3.Client, bucket, prefix string, kind Kind) (*Record, error) {
	key := Key(prefix, kind)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	var r Record
	if len(data) > maxSize || json.Unmarshal(data, &r) != nil || r.Kind != kind {
		return nil, fmt.Errorf("%s/%s is not a record offsite wrote", bucket, key)
	}
	return &r, nil
}
