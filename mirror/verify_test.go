package mirror

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

func verifyConfig(cfg Config) VerifyConfig {
	v := DefaultVerifyConfig()
	v.Source, v.Dest, v.Buckets = cfg.Source, cfg.Dest, cfg.Buckets
	return v
}

func verify(t *testing.T, cfg VerifyConfig) (*VerifyReport, error) {
	t.Helper()
	rep, err := Verify(context.Background(), cfg, zaptest.NewLogger(t))
	if rep == nil {
		t.Fatalf("Verify returned no report (err %v)", err)
	}
	t.Logf("verify: %v; %+v", err, rep)
	return rep, err
}

func TestVerifyRGW(t *testing.T) {
	src, dst, cfg := servers(t, "alpha", "beta")
	for _, k := range []string{"a", "b/c", "d e ü"} {
		src.Put(t, "alpha", k, []byte("alpha "+k))
		src.Put(t, "beta", k, []byte("beta "+k))
	}
	big := randomBytes(t, 5<<20+10)
	putMultipart(t, src, "beta", "multipart", big, 5<<20)
	mustRun(t, cfg)
	vcfg := verifyConfig(cfg)

	t.Run("clean", func(t *testing.T) {
		rep, err := verify(t, vcfg)
		if err != nil || !rep.OK || len(rep.Buckets) != 2 {
			t.Fatalf("err=%v ok=%v buckets=%d", err, rep.OK, len(rep.Buckets))
		}
		beta := rep.Buckets[1]
		if beta.Matched != 4 || beta.ByDate != 1 || rep.LastReport == nil || rep.LastReport.Status != StatusOK {
			t.Fatalf("beta=%+v last=%+v", beta, rep.LastReport)
		}
	})

	t.Run("download where hashes are missing", func(t *testing.T) {
		vcfg := vcfg
		vcfg.Download = true
		rep, err := verify(t, vcfg)
		if err != nil || rep.Buckets[1].Downloaded != 1 || rep.Buckets[1].ByDate != 0 {
			t.Fatalf("err=%v beta=%+v", err, rep.Buckets[1])
		}
		// Same size, other bytes, and no MD5 to tell: only a download sees it.
		altered := slices.Clone(big)
		altered[0] ^= 0xff
		dst.Put(t, destBucket, "beta/multipart", altered)
		putMultipart(t, src, "beta", "multipart", big, 5<<20)
		rep, err = verify(t, vcfg)
		if !errors.Is(err, exitcode.ErrVerifyFailed) || rep.Buckets[1].Differing != 1 || rep.Buckets[1].DifferObj[0] != "multipart" {
			t.Fatalf("err=%v beta=%+v", err, rep.Buckets[1])
		}
		dst.Put(t, destBucket, "beta/multipart", big)
	})

	t.Run("missing and differing", func(t *testing.T) {
		dst.Delete(t, destBucket, "alpha/b/c")
		dst.Put(t, destBucket, "alpha/a", []byte("alpha A")) // same size: only the hash tells
		dst.Put(t, destBucket, "alpha/only-in-mirror", []byte("x"))
		rep, err := verify(t, vcfg)
		if !errors.Is(err, exitcode.ErrVerifyFailed) || rep.OK {
			t.Fatalf("err=%v ok=%v, want a verification failure", err, rep.OK)
		}
		a := rep.Buckets[0]
		if a.Missing != 1 || a.Differing != 1 || a.Extra != 1 || a.MissingObj[0] != "b/c" || a.DifferObj[0] != "a" {
			t.Fatalf("alpha=%+v", a)
		}
		if !rep.Buckets[1].OK {
			t.Fatalf("beta=%+v", rep.Buckets[1])
		}
		var table strings.Builder
		if err := rep.WriteTable(&table); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"missing   alpha/b/c", "differing alpha/a", "ok: false"} {
			if !strings.Contains(table.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, table.String())
			}
		}
		mustRun(t, cfg) // repair
	})

	t.Run("stale report", func(t *testing.T) {
		vcfg := vcfg
		vcfg.Now = time.Now().Add(vcfg.MaxReportAge + time.Hour) // the day the mirror CronJob stopped
		rep, err := verify(t, vcfg)
		if !errors.Is(err, exitcode.ErrVerifyFailed) || !rep.LastReport.Stale || rep.OK {
			t.Fatalf("err=%v ok=%v last=%+v", err, rep.OK, rep.LastReport)
		}
		if got, want := len(rep.Problems), 1; got != want || !strings.Contains(rep.Problems[0], "over 25h") {
			t.Fatalf("problems=%q, want one naming the maximum age", rep.Problems)
		}
		for _, b := range rep.Buckets {
			if !b.OK {
				t.Fatalf("bucket %+v", b)
			}
		}
		vcfg.Now = time.Now().Add(vcfg.MaxReportAge - time.Hour)
		if rep, err := verify(t, vcfg); err != nil || rep.LastReport.Stale {
			t.Fatalf("within the maximum age: err=%v last=%+v", err, rep.LastReport)
		}
	})

	t.Run("failed report", func(t *testing.T) {
		run := cfg
		run.Buckets = []string{"alpha", "not-there"}
		if _, err := Run(context.Background(), run, zaptest.NewLogger(t)); err == nil {
			t.Fatal("a run with a missing bucket succeeded")
		}
		rep, err := verify(t, vcfg)
		if !errors.Is(err, exitcode.ErrVerifyFailed) || rep.LastReport.Status != StatusFailed {
			t.Fatalf("err=%v last=%+v", err, rep.LastReport)
		}
		for _, b := range rep.Buckets {
			if !b.OK {
				t.Fatalf("bucket %+v", b)
			}
		}
	})
}

func TestVerifyWithoutReport(t *testing.T) {
	src, _, cfg := servers(t, "alpha")
	src.Put(t, "alpha", "k", []byte("v"))
	rep, err := verify(t, verifyConfig(cfg))
	if !errors.Is(err, exitcode.ErrVerifyFailed) || rep.LastReport != nil || rep.Buckets[0].Missing != 1 {
		t.Fatalf("err=%v rep=%+v", err, rep)
	}
}
