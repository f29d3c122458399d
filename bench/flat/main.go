//go:build bench

// Command flat seeds and lists the flat buckets of bench/mirror.sh's
// no-change scenario: keys urn:oid:N, the same bytes under the same key on
// both sides (a single-part PUT's ETag is the MD5 of the bytes, so a mirror
// tool sees equal pairs without a first copy). Credentials come from
// BENCH_ACCESS_KEY and BENCH_SECRET_KEY.
//
//	go run -tags bench ./bench/flat seed ENDPOINT BUCKET PREFIX COUNT SIZE
//	go run -tags bench ./bench/flat list ENDPOINT BUCKET PREFIX
//
// seed creates the bucket if needed and writes only the keys not there
// yet; list pages through ListObjectsV2 without a delimiter, holding one
// page at a time, and prints the count: the floor any comparison of two
// listings can reach.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "flat:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	switch {
	case len(args) == 6 && args[0] == "seed":
		count, err1 := strconv.Atoi(args[4])
		size, err2 := strconv.Atoi(args[5])
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		return seed(ctx, client(args[1]), args[2], args[3], count, size)
	case len(args) == 4 && args[0] == "list":
		n, err := list(ctx, client(args[1]), args[2], args[3], nil)
		if err != nil {
			return err
		}
		fmt.Println(n)
		return nil
	}
	return errors.New("usage: flat seed ENDPOINT BUCKET PREFIX COUNT SIZE | flat list ENDPOINT BUCKET PREFIX")
}

func client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(os.Getenv("BENCH_ACCESS_KEY"), os.Getenv("BENCH_SECRET_KEY"), ""),
		UsePathStyle: true,
		HTTPClient:   &httpClient,
		// As the test harness: RGW and older servers reject CRC trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// list counts the objects under prefix, one page in memory at a time; seen
// (when not nil) gets each key.
func list(ctx context.Context, c *s3.Client, bucket, prefix string, seen func(string)) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var missing *types.NoSuchBucket
			if errors.As(err, &missing) && seen != nil {
				return n, nil
			}
			return n, err
		}
		for _, o := range page.Contents {
			if seen != nil {
				seen(aws.ToString(o.Key))
			}
			n++
		}
	}
	return n, nil
}

// seed writes COUNT objects of SIZE bytes, urn:oid:0 ... under prefix, with
// 16 PUTs in flight; each object's bytes follow from its key alone.
func seed(ctx context.Context, c *s3.Client, bucket, prefix string, count, size int) error {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return err
		}
	}
	have := map[string]bool{}
	if _, err := list(ctx, c, bucket, prefix, func(k string) { have[k] = true }); err != nil {
		return err
	}
	keys := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for key := range keys {
				body := content(key, size)
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key,
					Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(size))})
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range count {
		key := fmt.Sprintf("%surn:oid:%d", prefix, i)
		if have[key] {
			continue
		}
		select {
		case keys <- key:
		case err = <-errs:
			break feed
		}
	}
	close(keys)
	wg.Wait()
	close(errs)
	return errors.Join(err, <-errs)
}

// content is size bytes that depend on the key alone (prefix excluded, so
// both sides hold the same bytes under a mirrored key).
func content(key string, size int) []byte {
	i := bytes.LastIndex([]byte(key), []byte("urn:oid:"))
	sum := sha256.Sum256([]byte(key[i:]))
	return bytes.Repeat(sum[:], size/len(sum)+1)[:size]
}

// httpClient keeps enough idle connections for 16 PUTs in flight.
var httpClient = http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
