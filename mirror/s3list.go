package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// object is one S3 object as a listing shows it: what the comparison
// decides on, without a request of its own.
type object struct {
	key      string // the key's own bytes, below the listing's prefix
	size     int64
	etag     string // as the server gives it, without quotes
	modified time.Time
	version  string // the version listed (a listing at a time), else ""
}

// md5 is the object's MD5 when its ETag is one: a single-part upload's.
// A multipart upload's ETag ("<md5 of the parts' md5s>-<parts>") is not.
func (o object) md5() string {
	if len(o.etag) != 32 || strings.ContainsFunc(o.etag, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }) {
		return ""
	}
	return o.etag
}

// bucketPlace is a prefix of a bucket, the listing of one side of a copy:
// "photos" (a source bucket, prefix "") or "homelab-backup-rgw" with prefix
// "photos/" (its mirror).
type bucketPlace struct {
	client *s3.Client
	bucket string
	prefix string    // "" or ending in "/"
	at     time.Time // list and read the bucket as it was then (its versions); zero: as it is
	absent bool      // a bucket a dry run would create: it lists empty
	limit  int       // list the first limit objects only (a drill's sample); 0: every one
}

// listing is the place as one side of a merge, named what for errors.
func (p bucketPlace) listing(what string) listing {
	return listing{name: what + " " + p.bucket + "/" + p.prefix, list: p.list}
}

// listPage is how many keys a page of a listing holds: S3's most.
const listPage = 1000

// list lists the place flat, in the keys' byte order as S3 gives them,
// page by page. Keys come URL-encoded, so that every byte survives the XML
// of the answer (a carriage return, which XML turns into a newline,
// included); they are decoded here. An error is the listing's: a prefix
// that holds nothing lists empty, never as an error.
func (p bucketPlace) list(ctx context.Context, page func([]object) error) error {
	switch {
	case p.absent:
		return nil
	case p.limit > 0:
		return p.listFirst(ctx, page)
	case !p.at.IsZero():
		return p.listAt(ctx, page)
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(p.bucket), Prefix: aws.String(p.prefix),
		EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(listPage)}
	for {
		out, err := p.client.ListObjectsV2(ctx, in)
		if err != nil {
			return err
		}
		objs := make([]object, 0, len(out.Contents))
		for _, c := range out.Contents {
			key, err := p.decode(c.Key)
			if err != nil {
				return err
			}
			objs = append(objs, object{key: key, size: aws.ToInt64(c.Size), etag: strings.Trim(aws.ToString(c.ETag), `"`), modified: aws.ToTime(c.LastModified)})
		}
		if err := page(objs); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		if aws.ToString(out.NextContinuationToken) == "" {
			return fmt.Errorf("list %s/%s: a truncated page without a continuation token", p.bucket, p.prefix)
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// errListed ends a listing that has given what was asked.
var errListed = errors.New("listed enough")

// listFirst lists the place's first p.limit objects.
func (p bucketPlace) listFirst(ctx context.Context, page func([]object) error) error {
	left, all := p.limit, p
	all.limit = 0
	err := all.list(ctx, func(objs []object) error {
		objs = objs[:min(len(objs), left)]
		left -= len(objs)
		if err := page(objs); err != nil {
			return err
		}
		if left == 0 {
			return errListed
		}
		return nil
	})
	if errors.Is(err, errListed) {
		return nil
	}
	return err
}

// decode is a listed key, URL-encoded, below the place's prefix.
func (p bucketPlace) decode(raw *string) (string, error) {
	key, err := url.QueryUnescape(aws.ToString(raw))
	if err != nil {
		return "", fmt.Errorf("list %s/%s: the key %q is not URL-encoded as asked: %w", p.bucket, p.prefix, aws.ToString(raw), err)
	}
	rel, ok := strings.CutPrefix(key, p.prefix)
	if !ok {
		return "", fmt.Errorf("list %s/%s: the key %q is outside the prefix", p.bucket, p.prefix, key)
	}
	return rel, nil
}

// listAt lists the place as it was at p.at: for each key, its newest
// version from then or before, unless that is a delete marker (the key was
// gone then). S3 lists a key's versions and delete markers newest first,
// the keys in order; a key's versions may run over a page's end.
func (p bucketPlace) listAt(ctx context.Context, page func([]object) error) error {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(p.bucket), Prefix: aws.String(p.prefix),
		EncodingType: types.EncodingTypeUrl, MaxKeys: aws.Int32(listPage)}
	decided := "" // the last key whose version at p.at is known
	for {
		out, err := p.client.ListObjectVersions(ctx, in)
		if err != nil {
			return err
		}
		entries, err := p.versions(out)
		if err != nil {
			return err
		}
		var objs []object
		for _, e := range entries {
			if e.key == decided || e.modified.After(p.at) {
				continue
			}
			decided = e.key
			if !e.deleted {
				objs = append(objs, e.object)
			}
		}
		if err := page(objs); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

// version is one listed version of a key, or its delete marker.
type version struct {
	object
	deleted bool
}

// versions are a page's versions and delete markers, which S3 answers in
// two lists, in one: by key, newest first.
func (p bucketPlace) versions(out *s3.ListObjectVersionsOutput) ([]version, error) {
	var all []version
	for _, v := range out.Versions {
		key, err := p.decode(v.Key)
		if err != nil {
			return nil, err
		}
		all = append(all, version{object: object{key: key, size: aws.ToInt64(v.Size), etag: strings.Trim(aws.ToString(v.ETag), `"`),
			modified: aws.ToTime(v.LastModified), version: aws.ToString(v.VersionId)}})
	}
	for _, m := range out.DeleteMarkers {
		key, err := p.decode(m.Key)
		if err != nil {
			return nil, err
		}
		all = append(all, version{object: object{key: key, modified: aws.ToTime(m.LastModified)}, deleted: true})
	}
	slices.SortStableFunc(all, func(a, b version) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return b.modified.Compare(a.modified)
	})
	return all, nil
}
