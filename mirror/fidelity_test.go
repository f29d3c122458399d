package mirror_test

// Fidelity: what a mirror carries, tried as applications write objects
// (the AWS SDK, not rclone), with a real MinIO and the suite's real Ceph
// RGW as the source, and the RGW as the restore's target.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/harness"
	"github.com/offsite-backup/offsite/mirror"
)

// carried is what a copy must carry besides the bytes.
type carried struct {
	contentType, cacheControl, disposition, encoding, language string
	expires                                                    time.Time
	meta                                                       map[string]string
	tags                                                       map[string]string
}

// rich is an object as a static site writes it.
func rich() carried {
	return carried{contentType: "text/html", cacheControl: "max-age=60", disposition: "inline", encoding: "identity",
		language: "en", expires: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC),
		meta: map[string]string{"owner": "alice", "team-id": "42"}, tags: map[string]string{"team": "web"}}
}

// tagging is tags as x-amz-tagging takes them.
func tagging(tags map[string]string) *string {
	v := url.Values{}
	for k, t := range tags {
		v.Set(k, t)
	}
	return aws.String(v.Encode())
}

// putCarrying writes key with c's headers, metadata and tags, in parts of
// 5 MiB when multipart.
func putCarrying(t *testing.T, cl *s3.Client, bucket, key string, body []byte, c carried, multipart bool) {
	t.Helper()
	ctx := context.Background()
	if !multipart {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
			ContentType: &c.contentType, CacheControl: &c.cacheControl, ContentDisposition: &c.disposition,
			ContentEncoding: &c.encoding, ContentLanguage: &c.language, Expires: &c.expires, Metadata: c.meta, Tagging: tagging(c.tags)})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key,
		ContentType: &c.contentType, CacheControl: &c.cacheControl, ContentDisposition: &c.disposition,
		ContentEncoding: &c.encoding, ContentLanguage: &c.language, Expires: &c.expires, Metadata: c.meta, Tagging: tagging(c.tags)})
	if err != nil {
		t.Fatalf("create multipart %s: %v", key, err)
	}
	var parts []types.CompletedPart
	for i := 0; i*(5<<20) < len(body); i++ {
		chunk := body[i*(5<<20) : min(len(body), (i+1)*(5<<20))]
		n := int32(i + 1)
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: &n,
			Body: bytes.NewReader(chunk), ContentLength: aws.Int64(int64(len(chunk)))})
		if err != nil {
			t.Fatalf("upload part %d of %s: %v", n, key, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: &n})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("complete multipart %s: %v", key, err)
	}
	// Ceph RGW 18.2 drops the tags given with a multipart upload: set them
	// again, as an application on RGW must.
	putTags(t, cl, bucket, key, c.tags)
}

// putTags sets key's tags.
func putTags(t *testing.T, cl *s3.Client, bucket, key string, tags map[string]string) {
	t.Helper()
	var set []types.Tag
	for k, v := range tags {
		set = append(set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := cl.PutObjectTagging(context.Background(), &s3.PutObjectTaggingInput{Bucket: &bucket, Key: &key, Tagging: &types.Tagging{TagSet: set}}); err != nil {
		t.Fatalf("tags of %s: %v", key, err)
	}
}

// assertCarries fails t unless key holds body and carries c: every
// header, every metadata entry (others may stand beside them, but never
// offsite's own record of its source after a restore) and the tags.
func assertCarries(t *testing.T, cl *s3.Client, bucket, key string, body []byte, c carried, restored bool) {
	t.Helper()
	ctx := context.Background()
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	got := new(bytes.Buffer)
	_, _ = got.ReadFrom(out.Body)
	out.Body.Close()
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("%s/%s: %d bytes, not the %d written", bucket, key, got.Len(), len(body))
	}
	for _, h := range []struct{ name, got, want string }{
		{"Content-Type", aws.ToString(out.ContentType), c.contentType},
		{"Cache-Control", aws.ToString(out.CacheControl), c.cacheControl},
		{"Content-Disposition", aws.ToString(out.ContentDisposition), c.disposition},
		{"Content-Encoding", aws.ToString(out.ContentEncoding), c.encoding},
		{"Content-Language", aws.ToString(out.ContentLanguage), c.language},
		{"Expires", aws.ToString(out.ExpiresString), c.expires.Format(http1123)},
	} {
		if h.got != h.want {
			t.Errorf("%s/%s: %s %q, want %q", bucket, key, h.name, h.got, h.want)
		}
	}
	for k, v := range c.meta {
		if out.Metadata[k] != v {
			t.Errorf("%s/%s: x-amz-meta-%s %q, want %q (all: %v)", bucket, key, k, out.Metadata[k], v, out.Metadata)
		}
	}
	if _, ok := out.Metadata["offsite-source-etag"]; restored && ok {
		t.Errorf("%s/%s: the restored object carries the mirror's record of its source: %v", bucket, key, out.Metadata)
	}
	tags, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("tags of %s/%s: %v", bucket, key, err)
	}
	gotTags := map[string]string{}
	for _, tag := range tags.TagSet {
		gotTags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if !maps.Equal(gotTags, c.tags) {
		t.Errorf("%s/%s: tags %v, want %v", bucket, key, gotTags, c.tags)
	}
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

// sources are the servers a fidelity test takes as the mirror's source.
func sources(t *testing.T) map[string]func(t *testing.T, buckets ...string) (*harness.Server, *harness.Minio, mirror.Config) {
	return map[string]func(t *testing.T, buckets ...string) (*harness.Server, *harness.Minio, mirror.Config){
		"MinIO": func(t *testing.T, buckets ...string) (*harness.Server, *harness.Minio, mirror.Config) {
			src := harness.StartMinio(t, buckets...)
			_, dst, cfg := rgwLikeSetup(t, &src.Server)
			return &src.Server, dst, cfg
		},
		"RGW": func(t *testing.T, buckets ...string) (*harness.Server, *harness.Minio, mirror.Config) {
			rgw, dst, cfg := rgwSetup(t)
			for _, b := range buckets {
				rgw.MakeBucket(t, b)
			}
			return &rgw.Server, dst, cfg
		},
	}
}

// rgwLikeSetup is rgwSetup with src, any S3 server, as the source.
func rgwLikeSetup(t *testing.T, src *harness.Server) (*harness.Server, *harness.Minio, mirror.Config) {
	t.Helper()
	dst := harness.StartMinio(t, mirror.DefaultDestBucket)
	n := rgwRemoteSeq.Add(1)
	cfg := mirror.DefaultConfig()
	cfg.Source = src.Remote(fmt.Sprintf("offsite-src-test-%d", n))
	cfg.Dest = dst.Remote(fmt.Sprintf("offsite-dst-test-%d", n))
	cfg.Buckets = []string{mirror.AllBuckets}
	cfg.Retries, cfg.RetriesSleep, cfg.ProgressInterval, cfg.Version = 2, 100*time.Millisecond, 0, "test"
	return src, dst, cfg
}

// verify runs verify rgw and logs what it found.
func verify(t *testing.T, cfg mirror.VerifyConfig) (*mirror.VerifyReport, error) {
	t.Helper()
	rep, err := mirror.Verify(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)))
	var b strings.Builder
	_ = rep.WriteTable(&b)
	t.Logf("verify (error %v):\n%s", err, b.String())
	return rep, err
}

// TestMirrorCarriesEverything: headers, metadata and tags of objects
// written by applications, single-part and multipart, reach the mirror; a
// change of headers alone at the source is carried by the next run; a
// restore brings them back to the RGW as they were.
func TestMirrorCarriesEverything(t *testing.T) {
	for name, start := range sources(t) {
		t.Run(name, func(t *testing.T) {
			src, dst, cfg := start(t, "site")
			small, big := []byte("<h1>hello</h1>"), randomData(t, 12<<20)
			putCarrying(t, src.Client(), "site", "index.html", small, rich(), false)
			putCarrying(t, src.Client(), "site", "video.mp4", big, rich(), true)
			cfg.Mode = mirror.ModeSync
			if _, err := runMirror(t, cfg); err != nil {
				t.Fatal(err)
			}
			assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "site/index.html", small, rich(), false)
			assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "site/video.mp4", big, rich(), false)

			// Headers alone change (a copy onto itself): the ETag stays,
			// the date moves, and the next run carries it.
			changed := rich()
			changed.cacheControl, changed.meta = "no-store", map[string]string{"owner": "bob"}
			copyOntoItself(t, src.Client(), "site", "index.html", changed)
			rep, err := runMirror(t, cfg)
			if err != nil || bucketReport(t, rep, "site").Transferred != 1 {
				t.Fatalf("after a change of headers alone: err %v, %+v; want 1 transferred", err, bucketReport(t, rep, "site"))
			}
			assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "site/index.html", small, changed, false)

			if name != "RGW" {
				return
			}
			rgw := &harness.RGW{Server: *src}
			rcfg := restoreConfigOf(cfg)
			rcfg.Buckets, rcfg.ToBucket, rcfg.CreateBucket = []string{"site"}, "site-restored", true
			if _, err := runRestore(t, rcfg); err != nil {
				t.Fatal(err)
			}
			assertCarries(t, rgw.Client(), "site-restored", "index.html", small, changed, true)
			assertCarries(t, rgw.Client(), "site-restored", "video.mp4", big, rich(), true)
		})
	}
}

// copyOntoItself replaces key's headers and metadata with c's, as an
// application does to change them without a new upload.
func copyOntoItself(t *testing.T, cl *s3.Client, bucket, key string, c carried) {
	t.Helper()
	_, err := cl.CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: &bucket, Key: &key,
		CopySource: aws.String(bucket + "/" + url.PathEscape(key)), MetadataDirective: types.MetadataDirectiveReplace,
		ContentType: &c.contentType, CacheControl: &c.cacheControl, ContentDisposition: &c.disposition,
		ContentEncoding: &c.encoding, ContentLanguage: &c.language, Expires: &c.expires, Metadata: c.meta})
	if err != nil {
		t.Fatalf("copy %s onto itself: %v", key, err)
	}
	putTags(t, cl, bucket, key, c.tags) // Ceph RGW 18.2 loses them in a replacing copy
}

// TestSameSizeMultipartOverwrite: an object uploaded in parts (no MD5 in
// its ETag) overwritten by other bytes of the same size is flagged by
// verify rgw without a download, and carried by the next sync.
func TestSameSizeMultipartOverwrite(t *testing.T) {
	for name, start := range sources(t) {
		t.Run(name, func(t *testing.T) {
			src, dst, cfg := start(t, "media")
			first, second := randomData(t, 20<<20), randomData(t, 20<<20)
			putCarrying(t, src.Client(), "media", "clip.mp4", first, rich(), true)
			cfg.Mode = mirror.ModeSync
			if _, err := runMirror(t, cfg); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1100 * time.Millisecond) // the servers' dates have a second's grain
			putCarrying(t, src.Client(), "media", "clip.mp4", second, rich(), true)

			rep, err := verify(t, verifyConfigOf(cfg))
			if exitcode.Of(err) != exitcode.Verify || rep.Buckets[0].Differing != 1 || rep.Buckets[0].Downloaded != 0 {
				t.Fatalf("verify before the sync: %v, %+v; want exit 4, one differing, no download", err, rep.Buckets)
			}
			if rep, err := runMirror(t, cfg); err != nil || bucketReport(t, rep, "media").Transferred != 1 {
				t.Fatalf("sync after the overwrite: %v; want 1 transferred", err)
			}
			assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "media/clip.mp4", second, rich(), false)
			if _, err := verify(t, verifyConfigOf(cfg)); err != nil {
				t.Fatalf("verify after the sync: %v", err)
			}
		})
	}
}

// oddKeys are keys rclone's names would change or that XML bends, beside
// their plain neighbours.
var oddKeys = []string{
	"dir/file\t1", "dir/file1", "Icon\r", "Icon", "line\nbreak", "dir/", "sp ace", "plus+sign", "per%cent",
	"q?uery", "hash#", "ünïcödé", "emoji ☃", "\x01ctrl", "trailing space ",
}

// unmirrorable are keys Ceph RGW takes and MinIO refuses (a "." or ".."
// segment, an empty one).
var unmirrorable = []string{"a/./b", "a/../b", "a//b"}

// TestOddKeysMirrorEveryObject: a bucket with control characters and odd
// segments in its keys mirrors every object, under its own bytes, and a
// restore brings every key back identical. From the RGW, keys MinIO
// refuses fail loudly, one by one, and every other object is still
// mirrored, with nothing deleted.
func TestOddKeysMirrorEveryObject(t *testing.T) {
	for name, start := range sources(t) {
		t.Run(name, func(t *testing.T) {
			src, dst, cfg := start(t, "odd")
			want := map[string][]byte{}
			for i, k := range oddKeys {
				want[k] = []byte(fmt.Sprintf("object %d: %q", i, k))
				putCarrying(t, src.Client(), "odd", k, want[k], rich(), false)
			}
			cfg.Mode = mirror.ModeSync
			rep, err := runMirror(t, cfg)
			if err != nil || bucketReport(t, rep, "odd").Transferred != int64(len(oddKeys)) {
				t.Fatalf("mirror: %v; want every one of %d objects transferred", err, len(oddKeys))
			}
			for k, body := range want {
				assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "odd/"+k, body, rich(), false)
			}
			if got := keysOf(t, dst.Client(), mirror.DefaultDestBucket, "odd/"); !slices.Equal(got, sortedKeys(want, "odd/")) {
				t.Fatalf("mirror keys %q, want %q", got, sortedKeys(want, "odd/"))
			}
			if rep, err := runMirror(t, cfg); err != nil || bucketReport(t, rep, "odd").Transferred != 0 {
				t.Fatalf("re-run: %v; want nothing to do", err)
			}
			if name != "RGW" {
				return
			}
			rcfg := restoreConfigOf(cfg)
			rcfg.Buckets, rcfg.ToBucket, rcfg.CreateBucket = []string{"odd"}, "odd-restored", true
			if _, err := runRestore(t, rcfg); err != nil {
				t.Fatal(err)
			}
			if got := keysOf(t, src.Client(), "odd-restored", ""); !slices.Equal(got, sortedKeys(want, "")) {
				t.Fatalf("restored keys %q, want %q", got, sortedKeys(want, ""))
			}

			for _, k := range unmirrorable {
				src.Put(t, "odd", k, []byte(k))
			}
			src.Delete(t, "odd", "sp ace") // a sync would delete its mirror
			rep, err = runMirror(t, cfg)
			b := bucketReport(t, rep, "odd")
			if exitcode.Of(err) != exitcode.Failed || b.Status != mirror.StatusFailed || b.Deleted != 0 {
				t.Fatalf("keys MinIO refuses: %v, %+v; want exit 1, the bucket failed, nothing deleted", err, b)
			}
			for _, k := range unmirrorable {
				if !strings.Contains(strings.Join(b.ErrorMessages, "\n"), k) && b.Errors < int64(len(unmirrorable)) {
					t.Errorf("the report does not name %q: %q", k, b.ErrorMessages)
				}
			}
			if got := keysOf(t, dst.Client(), mirror.DefaultDestBucket, "odd/"); !slices.Equal(got, sortedKeys(want, "odd/")) {
				t.Fatalf("after the refused keys the mirror holds %q, want %q (nothing deleted)", got, sortedKeys(want, "odd/"))
			}
		})
	}
}

// keysOf lists bucket's keys under prefix, URL-encoded listing decoded.
func keysOf(t *testing.T, cl *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, EncodingType: types.EncodingTypeUrl})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out.Contents {
			k, err := url.QueryUnescape(aws.ToString(c.Key))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	return keys
}

// sortedKeys are want's keys under prefix, in S3's order.
func sortedKeys(want map[string][]byte, prefix string) []string {
	var keys []string
	for k := range want {
		keys = append(keys, prefix+k)
	}
	slices.Sort(keys)
	return keys
}

// restoreConfigOf is a restore config between the ends of cfg.
func restoreConfigOf(cfg mirror.Config) mirror.RestoreConfig {
	r := mirror.DefaultRestoreConfig()
	r.Mirror, r.MirrorBucket, r.ReportPrefix, r.Target = cfg.Dest, cfg.DestBucket, cfg.ReportPrefix, cfg.Source
	r.Retries, r.RetriesSleep, r.ProgressInterval, r.Version = 2, 100*time.Millisecond, 0, "test"
	return r
}

// verifyConfigOf is a verify config of cfg's mirror.
func verifyConfigOf(cfg mirror.Config) mirror.VerifyConfig {
	v := mirror.DefaultVerifyConfig()
	v.Scope, v.Tuning = cfg.Scope, cfg.Tuning
	return v
}

// randomData is n bytes no two calls share.
func randomData(t *testing.T, n int) []byte {
	t.Helper()
	return harness.Bytes(uint64(time.Now().UnixNano()), n)
}

// TestVerifySampleCoversEveryObject: verify rgw --sample reads a rotating
// slice of the bucket whole, so that its count of runs reads every object
// once; a change no listing shows (a header of the mirror's copy) is found
// by the run whose slice holds it.
func TestVerifySampleCoversEveryObject(t *testing.T) {
	src, dst, cfg := sources(t)["MinIO"](t, "docs")
	for i := range 30 {
		putCarrying(t, src.Client(), "docs", fmt.Sprintf("doc-%02d", i), []byte(fmt.Sprintf("doc %d", i)), rich(), false)
	}
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatal(err)
	}
	tampered := rich()
	tampered.cacheControl = "no-cache"
	copyOntoItself(t, dst.Client(), mirror.DefaultDestBucket, "docs/doc-07", tampered)
	vcfg := verifyConfigOf(cfg)
	vcfg.Sample = mirror.Share{Count: 4}
	sampled, slices, found := int64(0), map[string]bool{}, 0
	for range 4 {
		rep, err := verify(t, vcfg)
		b := rep.Buckets[0]
		sampled += b.Sampled
		slices[b.SampleSlice] = true
		if b.Differing > 0 {
			found++
			if exitcode.Of(err) != exitcode.Verify || b.DifferObj[0] != "doc-07" {
				t.Fatalf("slice %s: %v, %+v; want exit 4 naming doc-07", b.SampleSlice, err, b)
			}
		}
	}
	if sampled != 30 || len(slices) != 4 || found != 1 {
		t.Fatalf("4 runs sampled %d objects over slices %v, found the tampered header %d times; want all 30, 4 slices, once", sampled, slices, found)
	}
}

// TestAuditCarriesTagsAlone: a change of tags alone shows in no listing;
// the mirror's audit reads a rotating slice's headers and tags again, and
// carries the change within its count of runs.
func TestAuditCarriesTagsAlone(t *testing.T) {
	src, dst, cfg := sources(t)["MinIO"](t, "docs")
	for i := range 10 {
		putCarrying(t, src.Client(), "docs", fmt.Sprintf("doc-%d", i), []byte("doc"), rich(), false)
	}
	cfg.Audit = mirror.Share{Count: 2}
	if _, err := runMirror(t, cfg); err != nil {
		t.Fatal(err)
	}
	retagged := rich()
	retagged.tags = map[string]string{"team": "ops", "keep": "forever"}
	putTags(t, src.Client(), "docs", "doc-3", retagged.tags)
	var audited, transferred int64
	for range 2 {
		rep, err := runMirror(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		audited += bucketReport(t, rep, "docs").Audited
		transferred += bucketReport(t, rep, "docs").Transferred
	}
	if audited != 10 || transferred != 1 {
		t.Fatalf("two runs audited %d pairs and copied %d; want all 10, and the retagged one", audited, transferred)
	}
	assertCarries(t, dst.Client(), mirror.DefaultDestBucket, "docs/doc-3", []byte("doc"), retagged, false)
}
