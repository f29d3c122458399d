// Package demo runs offsite end to end with nothing installed: two
// in-process S3 servers (rclone's serve s3) stand in for the Ceph RGW and
// the offsite MinIO, and a temp dir for k3s's snapshot dir. It is the only
// package that pulls rclone's S3 server into the binary.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/rclone/rclone/fs/operations"
	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/livebar"
	"github.com/offsite-backup/offsite/mirror"
	"github.com/offsite-backup/offsite/offload"
	"github.com/offsite-backup/offsite/offload/offloadtest/snapdb"
)

// Config is one demo run.
type Config struct {
	Out     io.Writer   // what the demo did, step by step
	Log     *zap.Logger // the commands' own logs
	Version string
	Dir     string // working dir; "" makes a temp dir and removes it afterwards
	// Live, if set, starts a live display for one command's run (on a
	// terminal); stop ends it before the command's summary is printed.
	Live func() (display livebar.Sink, stop func())
}

const (
	host        = "demo-node"
	rgwBuckets  = "photos nextcloud gitea"
	etcdBucket  = offload.DefaultBucket
	mirrorDest  = mirror.DefaultDestBucket
	keyIDPrefix = "demo-"
)

// sampleObjects seeds the source; paths are bucket/key.
var sampleObjects = map[string]string{
	"photos/2024/summer/beach.jpg":          "pretend JPEG, summer 2024",
	"photos/2024/winter/snow day.jpg":       "pretend JPEG with a space in its key",
	"photos/2025/überraschung.jpg":          "pretend JPEG with a unicode key",
	"photos/old/scan-001.tif":               "an old scan, deleted from the source in step 2",
	"nextcloud/alice/files/notes.md":        "# notes\n",
	"nextcloud/alice/files/empty.txt":       "",
	"nextcloud/bob/files/budget.ods":        "pretend spreadsheet",
	"gitea/repositories/homelab/config.git": "pretend git pack",
	"gitea/avatars/1.png":                   "pretend PNG",
}

// Run runs the demo. It returns an error if any step did not do what a real
// run against real servers would have done.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	d := &demo{Config: cfg}
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "offsite-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(d.Dir)
	}
	if err := d.start(ctx); err != nil {
		return err
	}
	defer d.stop(ctx)
	for _, step := range []func(context.Context) error{
		d.mirrorCopy, d.mirrorSync, d.offloadOnce, d.offloadEncrypted, d.verifyRGW, d.restoreRGW, d.drillRGW, d.verifyEtcd, d.drillEtcd,
		d.fetch, d.safetyStop,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.printf("\nAll steps did what they should. Try them on your own servers: see the README.\n")
	return nil
}

type demo struct {
	Config
	rgw, minio *s3Server
	identity   age.Identity // decrypts the second node's snapshots
	step       int
}

// live starts a live display for one command, when the demo has one.
func (d *demo) live() (livebar.Sink, func()) {
	if d.Live == nil {
		return nil, func() {}
	}
	return d.Live()
}

// shown runs one command under the live display, if any, and prints the
// summary it returns once the display is gone.
func (d *demo) shown(run func(livebar.Sink) (summary string)) {
	sink, stop := d.live()
	summary := run(sink)
	stop()
	if summary != "" {
		d.printf("%s", indent(summary))
	}
}

// offloadOnceLive is offload.Once with the live display.
func (d *demo) offloadOnceLive(ctx context.Context, cfg offload.Config) (offload.Result, error) {
	var stop func()
	cfg.Display, stop = d.live()
	defer stop()
	return offload.Once(ctx, cfg, d.Log)
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.Out, format, args...) }

func (d *demo) heading(command, what string) {
	d.step++
	d.printf("\n== %d. %s\n   %s\n", d.step, command, what)
}

func (d *demo) start(ctx context.Context) error {
	var err error
	buckets := strings.Fields(rgwBuckets)
	if d.rgw, err = startS3(ctx, "offsite-demo-rgw", filepath.Join(d.Dir, "rgw"), keyIDPrefix+"rgw", "demo-rgw-secret", buckets...); err != nil {
		return err
	}
	if d.minio, err = startS3(ctx, "offsite-demo-minio", filepath.Join(d.Dir, "minio"), keyIDPrefix+"minio", "demo-minio-secret", mirrorDest, etcdBucket); err != nil {
		d.rgw.stop(ctx)
		return err
	}
	for path, content := range sampleObjects {
		if err := d.put(ctx, path, content); err != nil {
			return err
		}
	}
	d.printf("offsite demo: two in-process S3 servers on loopback, working in %s\n", d.Dir)
	d.printf("   source      (stands in for Ceph RGW) %s, buckets %s\n", d.rgw.remote.Endpoint, strings.Join(buckets, ", "))
	d.printf("   destination (stands in for MinIO)    %s, buckets %s, %s\n", d.minio.remote.Endpoint, mirrorDest, etcdBucket)
	return nil
}

func (d *demo) stop(ctx context.Context) {
	d.rgw.stop(ctx)
	d.minio.stop(ctx)
}

func (d *demo) mirrorConfig(mode mirror.Mode) mirror.Config {
	cfg := mirror.DefaultConfig()
	cfg.Source, cfg.Dest = d.rgw.remote, d.minio.remote
	cfg.Buckets = []string{mirror.AllBuckets} // RGW_BUCKETS=*
	cfg.Mode = mode
	cfg.Retries, cfg.RetriesSleep = 3, 100*time.Millisecond
	cfg.ProgressInterval = 0
	cfg.MaxDelete = mirror.MaxDelete{Count: 2} // the sample buckets are tiny: 10% of them is 0
	cfg.Version = d.Version
	return cfg
}

func (d *demo) mirror(ctx context.Context, cfg mirror.Config) (*mirror.Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var rep *mirror.Report
	var err error
	d.shown(func(sink livebar.Sink) string {
		cfg.Display = sink
		if rep, err = mirror.Run(ctx, cfg, d.Log); rep == nil {
			return ""
		}
		return rep.Summary()
	})
	return rep, err
}

func (d *demo) mirrorCopy(ctx context.Context) error {
	d.heading("offsite mirror   (OFFSITE_MODE=copy RGW_BUCKETS=*)", "copies every bucket to "+mirrorDest+"/<bucket>/ and writes a run report there")
	rep, err := d.mirror(ctx, d.mirrorConfig(mirror.ModeCopy))
	if err != nil {
		return fmt.Errorf("mirror copy: %w", err)
	}
	if got, want := rep.Totals.Transferred, int64(len(sampleObjects)); got != want {
		return fmt.Errorf("mirror copy transferred %d objects, want %d", got, want)
	}
	return nil
}

func (d *demo) mirrorSync(ctx context.Context) error {
	if err := d.remove(ctx, "photos/old/scan-001.tif"); err != nil {
		return err
	}
	d.heading("offsite mirror   (OFFSITE_MODE=auto RGW_BUCKETS=*)", "photos/old/scan-001.tif was deleted at the source; the last report shows a clean copy, so this run syncs and deletes it from the mirror, after every transfer")
	rep, err := d.mirror(ctx, d.mirrorConfig(mirror.ModeAuto))
	if err != nil {
		return fmt.Errorf("mirror sync: %w", err)
	}
	if got, want := rep.Totals.Deleted, int64(1); got != want {
		return fmt.Errorf("mirror sync deleted %d objects, want %d", got, want)
	}
	return nil
}

func (d *demo) offloadConfig() offload.Config {
	cfg := offload.DefaultConfig()
	cfg.Dest = d.minio.remote
	cfg.Hostname = host
	cfg.SnapshotDir = filepath.Join(d.Dir, "snapshots")
	cfg.StateDir = filepath.Join(d.Dir, "state")
	cfg.QuietPeriod = time.Second // the demo writes its snapshot whole; k3s needs the 30s default
	return cfg
}

func (d *demo) offloadOnce(ctx context.Context) error {
	cfg := d.offloadConfig()
	name := fmt.Sprintf("etcd-snapshot-%s-%d", host, time.Now().Unix())
	if err := writeSnapshot(cfg.SnapshotDir, name); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	d.heading("offsite offload once", "k3s wrote "+name+" (as .part, then renamed); it goes to "+etcdBucket+"/"+host+"/ with a .sha256 sidecar")
	res, err := d.offloadOnceLive(ctx, cfg)
	if err != nil {
		return fmt.Errorf("offload once: %w", err)
	}
	d.printf("   uploaded %d, already there %d, failed %d\n", len(res.Uploaded), len(res.Skipped), len(res.Failed))
	if len(res.Uploaded) != 1 {
		return fmt.Errorf("offload once uploaded %d snapshots, want 1", len(res.Uploaded))
	}
	d.heading("offsite offload once   (again)", "nothing is uploaded twice")
	if res, err = d.offloadOnceLive(ctx, cfg); err != nil {
		return fmt.Errorf("offload once: %w", err)
	}
	d.printf("   uploaded %d, already there %d, failed %d\n", len(res.Uploaded), len(res.Skipped), len(res.Failed))
	if len(res.Uploaded) != 0 {
		return fmt.Errorf("second offload once uploaded %d snapshots, want 0", len(res.Uploaded))
	}
	return nil
}

// offloadEncrypted ships a second node's snapshot encrypted to an age key,
// then brings it back with the key: the identity never needs to be on the
// node, only where a restore happens.
func (d *demo) offloadEncrypted(ctx context.Context) error {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	cfg := d.offloadConfig()
	cfg.Hostname = host + "-2"
	cfg.SnapshotDir, cfg.StateDir = filepath.Join(d.Dir, "snapshots-2"), filepath.Join(d.Dir, "state-2")
	cfg.Recipients, d.identity = []age.Recipient{key.Recipient()}, key
	name := fmt.Sprintf("etcd-snapshot-%s-%d", cfg.Hostname, time.Now().Unix())
	if err := writeSnapshot(cfg.SnapshotDir, name); err != nil {
		return err
	}
	d.heading("offsite offload once   (OFFSITE_AGE_RECIPIENTS="+key.Recipient().String()[:16]+"...)",
		"a second node encrypts its snapshot before it leaves: "+etcdBucket+"/"+cfg.Hostname+"/"+name+offload.AgeSuffix+
			"; its sidecar hashes the ciphertext, so verify needs no key")
	res, err := d.offloadOnceLive(ctx, cfg)
	if err != nil {
		return fmt.Errorf("offload once: %w", err)
	}
	if len(res.Uploaded) != 1 || !res.Uploaded[0].Encrypted {
		return fmt.Errorf("offload once with a recipient: %+v, want one encrypted upload", res)
	}
	d.printf("   uploaded %s (%d bytes of snapshot, encrypted)\n", res.Uploaded[0].Key, res.Uploaded[0].Size)
	dir := filepath.Join(d.Dir, "restore-2")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.heading("offsite offload fetch --host "+cfg.Hostname+" --identity KEY --to "+dir, "decrypts on the way, then checks the sidecar hash and the etcd trailer of the plaintext")
	got, err := offload.Fetch(ctx, offload.FetchConfig{Dest: d.minio.remote, Bucket: etcdBucket, Host: cfg.Hostname, Dir: dir,
		Identities: []age.Identity{key}}, d.Log)
	if err != nil {
		return fmt.Errorf("fetch --identity: %w", err)
	}
	d.printf("   fetched and decrypted %s\n", got.Snapshot)
	return nil
}

func (d *demo) verifyRGW(ctx context.Context) error {
	d.heading("offsite verify rgw --download   (RGW_BUCKETS=*)", "every source object is in the mirror with the same size and content; the last run report is fresh and ok")
	cfg := mirror.DefaultVerifyConfig()
	cfg.Source, cfg.Dest, cfg.Download = d.rgw.remote, d.minio.remote, true
	cfg.Buckets = []string{mirror.AllBuckets}
	if err := cfg.Validate(); err != nil {
		return err
	}
	rep, err := mirror.Verify(ctx, cfg, d.Log)
	return d.verified("verify rgw", rep.WriteTable, err)
}

// restoreRGW brings a bucket back from the mirror into a new RGW bucket,
// and proves it equals the mirror. (The demo's servers keep no versions, so
// the point-in-time restore, --at, is shown in the README instead.)
func (d *demo) restoreRGW(ctx context.Context) error {
	const bucket, to = "photos", "photos-restored"
	d.heading("offsite restore rgw --bucket "+bucket+" --to-bucket "+to+" --create-bucket --verify",
		"copies "+mirrorDest+"/"+bucket+"/ back into a new RGW bucket, then compares the two; a restore never deletes, and keeps what differs unless --overwrite")
	cfg := mirror.DefaultRestoreConfig()
	cfg.Target, cfg.Mirror = d.rgw.remote, d.minio.remote
	cfg.Buckets, cfg.ToBucket, cfg.CreateBucket, cfg.Verify = []string{bucket}, to, true, true
	cfg.ProgressInterval, cfg.Version = 0, d.Version
	if err := cfg.Validate(); err != nil {
		return err
	}
	var rep *mirror.RestoreReport
	var err error
	d.shown(func(sink livebar.Sink) string {
		cfg.Display = sink
		if rep, err = mirror.Restore(ctx, cfg, d.Log); rep == nil {
			return ""
		}
		return rep.Summary()
	})
	if err != nil {
		return fmt.Errorf("restore rgw: %w", err)
	}
	if b := rep.Bucket(bucket); b == nil || b.Restored == 0 || b.Verify == nil || !b.Verify.OK {
		return fmt.Errorf("restore rgw: %+v, want the bucket restored and verified", rep.Buckets)
	}
	return nil
}

// drillRGW restores a bucket's mirror into a scratch bucket, compares it,
// projects the whole restore, and removes the scratch bucket.
func (d *demo) drillRGW(ctx context.Context) error {
	const bucket = "photos"
	d.heading("offsite drill rgw --bucket "+bucket, "the weekly restore drill: the mirror restored into a scratch bucket "+mirror.ScratchPrefix+
		"<time> at the RGW, every object compared whole, the whole mirror's restore time projected, the scratch bucket removed")
	cfg := mirror.DrillConfig{Tuning: mirror.DefaultTuning(), Mirror: d.minio.remote, MirrorBucket: mirrorDest, ReportPrefix: mirror.DefaultConfig().ReportPrefix,
		Target: d.rgw.remote, Bucket: bucket, Version: d.Version}
	cfg.ProgressInterval = 0
	if err := cfg.Validate(); err != nil {
		return err
	}
	rep, err := mirror.Drill(ctx, cfg, d.Log)
	if err == nil && (rep.Compared == 0 || !rep.ScratchRemoved) {
		err = fmt.Errorf("%d objects compared, scratch bucket removed: %v; want some, and removed", rep.Compared, rep.ScratchRemoved)
	}
	return d.verified("drill rgw", rep.WriteTable, err)
}

// drillEtcd takes each node's newest snapshot as far as a restore goes
// without a cluster, the encrypted one with its key.
func (d *demo) drillEtcd(ctx context.Context) error {
	d.heading("offsite drill etcd --all-hosts --identity KEY", "each node's newest snapshot fetched into a temporary file, decrypted, checked, and read as etcd reads it")
	rep, err := offload.Drill(ctx, offload.DrillConfig{Dest: d.minio.remote, Bucket: etcdBucket, AllHosts: true,
		Identities: []age.Identity{d.identity}}, d.Log)
	var table func(io.Writer) error
	if rep != nil {
		table = rep.WriteTable
	}
	return d.verified("drill etcd", table, err)
}

func (d *demo) verifyEtcd(ctx context.Context) error {
	d.heading("offsite verify etcd --all-hosts", "every snapshot has its sidecar; the newest is downloaded and hashed, and is fresh")
	rep, err := offload.Verify(ctx, offload.VerifyConfig{
		Dest: d.minio.remote, Bucket: etcdBucket, AllHosts: true, MaxAge: 25 * time.Hour, Download: offload.DownloadLatest,
	}, d.Log)
	var table func(io.Writer) error // none without a report
	if rep != nil {
		table = rep.WriteTable
	}
	return d.verified("verify etcd", table, err)
}

// verified prints a verify step's report with table, if there is one, and
// returns the step's error, named by what.
func (d *demo) verified(what string, table func(io.Writer) error, err error) error {
	if table != nil {
		var b strings.Builder
		_ = table(&b)
		d.printf("%s", indent(b.String()))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (d *demo) fetch(ctx context.Context) error {
	dir := filepath.Join(d.Dir, "restore")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	d.heading("offsite offload fetch --latest --to "+dir, "a restore's first step: download the newest snapshot, check its sidecar hash and etcd trailer")
	got, err := offload.Fetch(ctx, offload.FetchConfig{Dest: d.minio.remote, Bucket: etcdBucket, Host: host, Dir: dir}, d.Log)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	d.printf("   fetched %s\n   to restore, on a stopped control plane: %s\n", got.Snapshot, offload.RestoreCommand(got.Snapshot, got.Token))
	return nil
}

// safetyStop empties a source bucket: a sync must refuse to empty its mirror.
func (d *demo) safetyStop(ctx context.Context) error {
	for path := range sampleObjects {
		if strings.HasPrefix(path, "gitea/") {
			if err := d.remove(ctx, path); err != nil {
				return err
			}
		}
	}
	cfg := d.mirrorConfig(mirror.ModeSync)
	cfg.Buckets = []string{"gitea"}
	d.heading("offsite mirror   (OFFSITE_MODE=sync RGW_BUCKETS=gitea)", "the gitea bucket now lists empty at the source: the empty-source guard refuses to empty its mirror (exit code 3)")
	_, err := d.mirror(ctx, cfg)
	if !errors.Is(err, exitcode.ErrSafetyStop) {
		return fmt.Errorf("mirror of an emptied bucket: got %v, want a safety stop", err)
	}
	d.printf("   => %v\n", err)
	return nil
}

// put writes an object to the source through S3, as an application would.
func (d *demo) put(ctx context.Context, path, content string) error {
	bucket, key, _ := strings.Cut(path, "/")
	f, err := d.rgw.remote.Fs(ctx, bucket)
	if err != nil {
		return err
	}
	_, err = operations.Rcat(ctx, f, key, io.NopCloser(strings.NewReader(content)), time.Now(), nil)
	return err
}

// remove deletes an object from the source through S3.
func (d *demo) remove(ctx context.Context, path string) error {
	bucket, key, _ := strings.Cut(path, "/")
	f, err := d.rgw.remote.Fs(ctx, bucket)
	if err != nil {
		return err
	}
	o, err := f.NewObject(ctx, key)
	if err != nil {
		return err
	}
	return o.Remove(ctx)
}

// writeSnapshot writes a valid etcd snapshot the way k3s does: an etcd
// database ending in the SHA-256 of what precedes it, as name.part, then
// renamed.
func writeSnapshot(dir, name string) error {
	data, err := snapdb.Snapshot(snapdb.Spec{Keys: 64, ValueSize: 3900, Seed: rand.Uint64()})
	if err != nil {
		return err
	}
	part := filepath.Join(dir, name+".part")
	if err := writeFile(part, data); err != nil {
		return err
	}
	return os.Rename(part, filepath.Join(dir, name))
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "   " + strings.Join(lines, "\n   ") + "\n"
}
