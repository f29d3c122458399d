package mirror

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/accounting"
	"github.com/rclone/rclone/fs/operations"
	"github.com/rclone/rclone/lib/encoder"
)

// s3Names is how rclone's S3 backend encodes names by default.
const s3Names = encoder.EncodeInvalidUtf8 | encoder.EncodeSlash | encoder.EncodeDot

// rcloneName is rclone's name of key, and whether rclone names it at all:
// rclone cleans paths ("a//b", "a/./b", a trailing slash) and encodes some
// names ("." and "..", invalid UTF-8), which would write another key.
func rcloneName(key string) (string, bool) {
	if !utf8.ValidString(key) || s3Names.FromStandardPath(key) != key {
		return "", false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return key, true
}

// copyObject copies src from c.src to the same key at c.dst, bytes,
// headers, user metadata and tags, as pol edits them. rclone uploads it;
// a key rclone cannot name goes up in a PUT of offsite's own.
func (c copier) copyObject(ctx context.Context, src object, pol policy) error {
	so := &sourceObject{place: c.src, fs: c.srcFs, obj: src, edit: pol.edit}
	name, ok := rcloneName(src.key)
	if !ok {
		return c.putDirect(ctx, so)
	}
	so.remote = name
	if _, err := operations.Copy(ctx, c.dstFs, nil, name, so); err != nil {
		return err
	}
	return c.carryRest(ctx, so)
}

// maxSinglePut is the largest object one PUT may write: S3's limit.
const maxSinglePut = 5 << 30

// putDirect writes so at c.dst with one PUT of offsite's own: for the keys
// rclone cannot name. The bytes go through a temp file, so that the PUT
// can sign them, and through rclone's accounting, so that they count and
// keep to the bandwidth limit.
func (c copier) putDirect(ctx context.Context, so *sourceObject) (err error) {
	key := c.dst.prefix + so.obj.key
	if so.obj.size > maxSinglePut {
		return fmt.Errorf("%q: its key is one rclone cannot write, and at %d bytes it is over the %d one PUT takes", key, so.obj.size, int64(maxSinglePut))
	}
	tr := accounting.Stats(ctx).NewTransfer(so, c.dstFs)
	defer func() { tr.Done(ctx, err) }()
	spool, sum, err := spooled(ctx, so, tr)
	if err != nil {
		return err
	}
	defer spool.Close()
	h, err := so.head(ctx)
	if err != nil {
		return err
	}
	meta, err := so.Metadata(ctx)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(c.dst.bucket), Key: aws.String(key), Body: spool,
		ContentLength: aws.Int64(so.obj.size), ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum))}
	writeHeaders(h, meta, &in.ContentType, &in.CacheControl, &in.ContentDisposition, &in.ContentEncoding, &in.ContentLanguage, &in.Expires)
	in.Metadata = userMetadata(meta)
	if tags := meta["x-amz-tagging"]; tags != "" {
		in.Tagging = aws.String(tags)
	}
	if _, err := c.dst.client.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// spooled reads so into an unlinked temp file, through tr, and returns it
// at its start with the MD5 of what was read, checked against the
// listing's where it has one.
func spooled(ctx context.Context, so *sourceObject, tr *accounting.Transfer) (*os.File, []byte, error) {
	body, err := so.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	f, err := os.CreateTemp("", "offsite-put-")
	if err != nil {
		return nil, nil, err
	}
	_ = os.Remove(f.Name()) // nothing left behind, however the run ends
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), tr.Account(ctx, body))
	if err == nil && n != so.obj.size {
		err = fmt.Errorf("read %d bytes of %s, listed with %d", n, so, so.obj.size)
	}
	if want := so.obj.md5(); err == nil && want != "" && want != hex.EncodeToString(h.Sum(nil)) {
		err = fmt.Errorf("%s: read bytes whose MD5 is not the listed ETag", so)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, h.Sum(nil), nil
}

// carryRest gives rclone's copy of so what rclone's upload cannot: the
// source's Expires header (no field for it), by a copy of the object onto
// itself with its headers replaced; and the tags, set again, since a
// server may drop tags given with a multipart upload or a replacing copy
// (Ceph RGW 18.2 does both). Only objects that have them pay the requests.
func (c copier) carryRest(ctx context.Context, so *sourceObject) error {
	h, err := so.head(ctx)
	if err != nil || h.expires == "" && h.tags == "" {
		return err
	}
	meta, err := so.Metadata(ctx)
	if err != nil {
		return err
	}
	key := c.dst.prefix + so.obj.key
	if h.expires != "" {
		in := &s3.CopyObjectInput{Bucket: aws.String(c.dst.bucket), Key: aws.String(key),
			CopySource: aws.String(escapePath(c.dst.bucket + "/" + key)), MetadataDirective: types.MetadataDirectiveReplace}
		writeHeaders(h, meta, &in.ContentType, &in.CacheControl, &in.ContentDisposition, &in.ContentEncoding, &in.ContentLanguage, &in.Expires)
		in.Metadata = userMetadata(meta)
		if _, err := c.dst.client.CopyObject(ctx, in); err != nil {
			return fmt.Errorf("set the Expires header of %s (a copy onto itself, up to 5 GiB): %w", key, err)
		}
	}
	if tags := meta["x-amz-tagging"]; tags != "" {
		set, err := url.ParseQuery(tags)
		if err != nil {
			return fmt.Errorf("the tags of %s: %w", so, err)
		}
		tagSet := make([]types.Tag, 0, len(set))
		for k := range set {
			tagSet = append(tagSet, types.Tag{Key: aws.String(k), Value: aws.String(set.Get(k))})
		}
		if _, err := c.dst.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String(c.dst.bucket), Key: aws.String(key),
			Tagging: &types.Tagging{TagSet: tagSet}}); err != nil {
			return fmt.Errorf("set the tags of %s: %w", key, err)
		}
	}
	return nil
}

// writeHeaders sets a request's system headers from meta and h's Expires.
func writeHeaders(h *headers, meta fs.Metadata, contentType, cacheControl, disposition, encoding, language **string, expires **time.Time) {
	for k, p := range map[string]**string{"content-type": contentType, "cache-control": cacheControl,
		"content-disposition": disposition, "content-encoding": encoding, "content-language": language} {
		if v := meta[k]; v != "" {
			*p = aws.String(v)
		}
	}
	if t, err := http.ParseTime(h.expires); err == nil {
		*expires = aws.Time(t)
	}
}

// systemKeys are the metadata keys that are headers, not x-amz-meta-*.
var systemKeys = map[string]bool{"content-type": true, "cache-control": true, "content-disposition": true,
	"content-encoding": true, "content-language": true, "x-amz-tagging": true}

// userMetadata is meta's x-amz-meta-* entries.
func userMetadata(meta fs.Metadata) map[string]string {
	user := map[string]string{}
	for k, v := range meta {
		if !systemKeys[k] {
			user[k] = v
		}
	}
	return user
}

// escapePath URL-encodes a bucket/key path, its slashes kept, as
// x-amz-copy-source takes it.
func escapePath(p string) string {
	return strings.ReplaceAll(url.PathEscape(p), "%2F", "/")
}
