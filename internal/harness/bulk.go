package harness

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// putWorkers is how many PUTs PutMany keeps in flight: enough to hide the
// per-request latency of RGW on two cores without starving the server.
const putWorkers = 16

// PutMany writes every object with parallel PUTs; a bucket of 2,500 small
// objects takes seconds instead of a minute.
func (s *Server) PutMany(t testing.TB, bucket string, objects map[string][]byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := make(chan string)
	go func() {
		defer close(keys)
		for key := range objects {
			select {
			case keys <- key:
			case <-ctx.Done():
				return
			}
		}
	}()
	client := s.Client()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range putWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				data := objects[key]
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &bucket, Key: &key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
				})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("put %s/%s: %w", bucket, key, err)
					}
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// NestedObjects returns n small objects spread over nested prefixes:
// dirs top-level prefixes ("d00/" ...), each with sub-prefixes, so listings
// with a delimiter have several levels to walk. Contents are distinct.
func NestedObjects(n, dirs int) map[string][]byte {
	objects := make(map[string][]byte, n)
	for i := range n {
		key := fmt.Sprintf("d%02d/s%d/obj-%05d", i%dirs, (i/dirs)%3, i)
		objects[key] = []byte(fmt.Sprintf("object %d of %d\n", i, n))
	}
	return objects
}

// PutMultipart uploads data as a multipart upload in parts of partSize
// (5 MiB at least, but for the last part) and returns the object's ETag,
// which S3 servers give the form "<md5 of part md5s>-<parts>": not the MD5
// of the content.
func (s *Server) PutMultipart(t testing.TB, bucket, key string, data []byte, partSize int) string {
	t.Helper()
	ctx := context.Background()
	client := s.Client()
	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("create multipart upload %s/%s: %v", bucket, key, err)
	}
	var parts []types.CompletedPart
	for offset, number := 0, int32(1); offset < len(data); offset, number = offset+partSize, number+1 {
		part := data[offset:min(offset+partSize, len(data))]
		out, err := client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: created.UploadId, PartNumber: aws.Int32(number),
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
		})
		if err != nil {
			t.Fatalf("upload part %d of %s/%s: %v", number, bucket, key, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(number)})
	}
	done, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		t.Fatalf("complete multipart upload %s/%s: %v", bucket, key, err)
	}
	return aws.ToString(done.ETag)
}

// ETag returns an object's ETag as the server reports it on HEAD.
func (s *Server) ETag(t testing.TB, bucket, key string) string {
	t.Helper()
	out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("head %s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// ListDelimited lists a bucket the way a directory walk does (and rclone
// without fast-list): one level at a time with delimiter "/", pages of at
// most maxKeys, descending into every common prefix. It returns the keys it
// saw, sorted. On a correct server this equals List's keys (see
// TestRGWDelimiterListingIsComplete).
func (s *Server) ListDelimited(t testing.TB, bucket string, maxKeys int32) []string {
	t.Helper()
	client := s.Client()
	var keys []string
	pending := []string{""}
	for len(pending) > 0 {
		prefix := pending[0]
		pending = pending[1:]
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{
			Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/"), MaxKeys: aws.Int32(maxKeys),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatalf("list %s/%s with delimiter: %v", bucket, prefix, err)
			}
			for _, o := range page.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			for _, cp := range page.CommonPrefixes {
				pending = append(pending, aws.ToString(cp.Prefix))
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// Object is what a flat listing says about one object.
type Object struct {
	Size int64
	ETag string // as listed, quotes removed: the MD5 of a single-part upload, "<hash>-<parts>" of a multipart one
}

// Objects lists every object under prefix without a delimiter, by key
// relative to prefix, with sizes and ETags: equal single-part ETags on two
// servers mean equal content without downloading it.
func (s *Server) Objects(t testing.TB, bucket, prefix string) map[string]Object {
	t.Helper()
	objects := map[string]Object{}
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			objects[key] = Object{Size: aws.ToInt64(o.Size), ETag: strings.Trim(aws.ToString(o.ETag), `"`)}
		}
	}
	return objects
}

// Bytes returns n bytes that do not compress or repeat, the same for the
// same seed: two servers can be seeded alike, and a test can rebuild what
// it wrote.
func Bytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
