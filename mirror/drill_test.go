package mirror_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// TestDrill restores a bucket's mirror into a scratch bucket at the
// source, on MinIO and on Ceph RGW: as it is, as it was, a sample of it;
// a planted difference fails it (exit 4); a failed restore and a cancel
// end it too; and whatever the end, the scratch bucket is gone and the
// source's own buckets are untouched.
func TestDrill(t *testing.T) {
	for name, setup := range sources(t) {
		t.Run(name, func(t *testing.T) {
			src, dst, cfg := setup(t, "docs")
			dst.EnableVersioning(t, mirror.DefaultDestBucket)
			want := map[string][]byte{}
			for i := range 12 {
				key := fmt.Sprintf("doc-%02d", i)
				want[key] = []byte(fmt.Sprintf("document %d", i))
				putCarrying(t, src.Client(), "docs", key, want[key], rich(), false)
			}
			want["video.mp4"] = harness.Bytes(7, 6<<20)
			putCarrying(t, src.Client(), "docs", "video.mp4", want["video.mp4"], rich(), true)
			if _, err := runMirror(t, cfg); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // versions carry the time to the millisecond
			at := time.Now()
			time.Sleep(1100 * time.Millisecond)
			src.Put(t, "docs", "doc-00", []byte("changed after the drill's --at"))
			if _, err := runMirror(t, cfg); err != nil {
				t.Fatal(err)
			}

			dcfg := drillConfigOf(cfg)
			dcfg.LowLevelRetries = 1 // a failed upload fails fast
			var now int64            // the bytes restored as the mirror is
			t.Run("as it is", func(t *testing.T) {
				rep := runDrill(t, src, dcfg, nil)
				now = rep.Bytes
				if !rep.OK || rep.Restored != 13 || rep.Compared != 13 || rep.Differing != 0 || rep.MirrorObjects != 13 || rep.ProjectedSeconds <= 0 {
					t.Fatalf("drill: %+v; want all 13 restored and compared, the mirror's 13 projected", rep)
				}
			})
			t.Run("as it was", func(t *testing.T) {
				dcfg := dcfg
				dcfg.At = at
				// doc-00 as it was: 20 bytes fewer than it is.
				if rep := runDrill(t, src, dcfg, nil); !rep.OK || rep.Restored != 13 || rep.Compared != 13 || rep.At == nil || rep.Bytes != now-20 {
					t.Fatalf("drill --at: %+v; want 13 restored, %d bytes", rep, now-20)
				}
			})
			t.Run("a sample", func(t *testing.T) {
				dcfg := dcfg
				dcfg.Sample = 3
				if rep := runDrill(t, src, dcfg, nil); !rep.OK || rep.Restored != 3 || rep.Compared != 3 || rep.MirrorObjects != 13 {
					t.Fatalf("drill --sample 3: %+v", rep)
				}
			})
			t.Run("a planted difference", func(t *testing.T) {
				rep := runDrill(t, src, dcfg, func(p *harness.HTTPProxy, _ context.CancelFunc) {
					p.SetRewrite(func(r *http.Request, body []byte) []byte {
						if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+mirror.ScratchPrefix) && strings.HasSuffix(r.URL.Path, "/doc-05") && len(body) > 0 {
							body[0] ^= 0xff
						}
						return body
					})
				})
				if rep.OK || rep.Differing != 1 || !slices.Equal(rep.DifferingObj, []string{"doc-05"}) || !errors.Is(rep.Err, exitcode.ErrVerifyFailed) || exitcode.Of(rep.Err) != exitcode.Verify {
					t.Fatalf("drill with doc-05 read back changed: %+v (error %v), want doc-05 differing, exit 4", rep, rep.Err)
				}
			})
			t.Run("a failed restore", func(t *testing.T) {
				rep := runDrill(t, src, dcfg, func(p *harness.HTTPProxy, _ context.CancelFunc) {
					p.SetRule(func(r *http.Request, _ int64) harness.Fault {
						if harness.IsObjectWrite(r, "doc-03") {
							return harness.Status500
						}
						return harness.Pass
					})
				})
				if rep.OK || rep.Err == nil || exitcode.Of(rep.Err) != exitcode.Failed {
					t.Fatalf("drill whose uploads fail: %+v (error %v), want exit 1", rep, rep.Err)
				}
			})
			t.Run("a cancel", func(t *testing.T) {
				rep := runDrill(t, src, dcfg, func(p *harness.HTTPProxy, cancel context.CancelFunc) {
					p.SetRule(func(r *http.Request, _ int64) harness.Fault {
						if harness.ObjectKey(r) != "" && r.Method == http.MethodPut {
							cancel() // SIGTERM, mid-restore
						}
						return harness.Pass
					})
				})
				if rep.OK || !errors.Is(rep.Err, context.Canceled) {
					t.Fatalf("cancelled drill: %+v (error %v), want cancelled", rep, rep.Err)
				}
			})
			assertBuckets(t, src, "docs")
			if got := src.Objects(t, "docs", ""); len(got) != 13 {
				t.Fatalf("the source's bucket holds %d objects after the drills, want its 13", len(got))
			}
		})
	}
}

// drillResult is a drill's report and error.
type drillResult struct {
	*mirror.DrillReport
	Err error
}

// runDrill runs a drill whose target (the source server) is reached
// through a proxy, which fault sets up (nil: none), and checks that the
// scratch bucket is gone whatever the end.
func runDrill(t *testing.T, src *harness.Server, cfg mirror.DrillConfig, fault func(*harness.HTTPProxy, context.CancelFunc)) drillResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proxied := *src
	p := harness.StartHTTPProxy(t, src.Endpoint)
	proxied.Endpoint = p.Endpoint
	cfg.Target = proxied.Remote(cfg.Target.Name + fmt.Sprintf("-drill-%d", rgwRemoteSeq.Add(1)))
	if fault != nil {
		fault(p, cancel)
	}
	rep, err := mirror.Drill(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
	if rep == nil {
		t.Fatalf("mirror.Drill returned no report (error %v)", err)
	}
	var table strings.Builder
	_ = rep.WriteTable(&table)
	t.Logf("drill (error %v):\n%s", err, table.String())
	if !rep.ScratchRemoved || !strings.HasPrefix(rep.Scratch, mirror.ScratchPrefix) {
		t.Errorf("scratch bucket %q removed: %v", rep.Scratch, rep.ScratchRemoved)
	}
	if src.BucketExists(t, rep.Scratch) {
		t.Errorf("the scratch bucket %s is still there", rep.Scratch)
	}
	return drillResult{rep, err}
}

// assertBuckets checks that the server holds exactly the buckets want.
func assertBuckets(t *testing.T, s *harness.Server, want ...string) {
	t.Helper()
	out, err := s.Client().ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range out.Buckets {
		got = append(got, *b.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("buckets %q, want %q", got, want)
	}
}

// drillConfigOf is a drill config of the bucket "docs" between the ends of
// cfg.
func drillConfigOf(cfg mirror.Config) mirror.DrillConfig {
	r := restoreConfigOf(cfg)
	return mirror.DrillConfig{Tuning: r.Tuning, Mirror: r.Mirror, MirrorBucket: r.MirrorBucket, ReportPrefix: r.ReportPrefix,
		Target: r.Target, Bucket: "docs", Version: "test"}
}
