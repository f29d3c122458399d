package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"
)

// headers are what an object carries besides its bytes, as a GET or HEAD
// answers them.
type headers struct {
	contentType, cacheControl, contentDisposition, contentEncoding, contentLanguage string
	expires                                                                         string // as sent: an HTTP date
	user                                                                            map[string]string
	tags                                                                            string // URL-encoded, as x-amz-tagging takes them: team=web
	tagCount                                                                        int32
}

// sourceObject is an object to copy, as rclone's upload reads it: listed by
// offsite and opened with offsite's own GET, whose answer carries what
// rclone's own open keeps to itself (every header, every user metadata
// entry, the tag count). The upload asks it for Metadata and writes all of
// it with the copy.
type sourceObject struct {
	place  bucketPlace
	fs     fs.Fs // the place through rclone: the source of the upload, for its features
	obj    object
	remote string                    // rclone's name of the key, below fs's root
	edit   func(fs.Metadata, object) // the policy's changes to what is written

	mu      sync.Mutex
	headers *headers // from the first answer; nil before
}

var _ fs.Object = (*sourceObject)(nil)

func (s *sourceObject) Fs() fs.Info                       { return s.fs }
func (s *sourceObject) String() string                    { return s.place.bucket + "/" + s.place.prefix + s.obj.key }
func (s *sourceObject) Remote() string                    { return s.remote }
func (s *sourceObject) ModTime(context.Context) time.Time { return s.obj.modified }
func (s *sourceObject) Size() int64                       { return s.obj.size }
func (s *sourceObject) Storable() bool                    { return true }

// Hash is the listing's MD5, where the ETag is one: no request.
func (s *sourceObject) Hash(_ context.Context, t hash.Type) (string, error) {
	if t != hash.MD5 {
		return "", hash.ErrUnsupported
	}
	return s.obj.md5(), nil
}

var errReadOnly = errors.New("a source object is only read")

func (s *sourceObject) SetModTime(context.Context, time.Time) error { return errReadOnly }
func (s *sourceObject) Update(context.Context, io.Reader, fs.ObjectInfo, ...fs.OpenOption) error {
	return errReadOnly
}
func (s *sourceObject) Remove(context.Context) error { return errReadOnly }

// Open reads the object, as listed: the listed version, or the current
// one only while its ETag is the listed one (a change since the listing
// fails the read, and the next try copies the new object). A range rclone
// asks for (a multi-thread copy) is honoured.
func (s *sourceObject) Open(ctx context.Context, options ...fs.OpenOption) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.place.bucket), Key: aws.String(s.place.prefix + s.obj.key)}
	if s.obj.version != "" {
		in.VersionId = aws.String(s.obj.version)
	} else {
		in.IfMatch = aws.String(`"` + s.obj.etag + `"`)
	}
	for _, o := range options {
		switch o.(type) {
		case *fs.RangeOption, *fs.SeekOption:
			_, v := o.Header()
			in.Range = aws.String(v)
		}
	}
	out, err := s.place.client.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s, err)
	}
	s.keep(&headers{contentType: aws.ToString(out.ContentType), cacheControl: aws.ToString(out.CacheControl),
		contentDisposition: aws.ToString(out.ContentDisposition), contentEncoding: aws.ToString(out.ContentEncoding),
		contentLanguage: aws.ToString(out.ContentLanguage), expires: aws.ToString(out.ExpiresString),
		user: out.Metadata, tagCount: aws.ToInt32(out.TagCount)})
	return out.Body, nil
}

// keep holds h, the first answer's headers.
func (s *sourceObject) keep(h *headers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headers == nil {
		s.headers = h
	}
}

// head is the object's headers and tags: from its GET, or, when rclone
// asks before it opens the object (a multi-thread copy), a HEAD.
func (s *sourceObject) head(ctx context.Context) (*headers, error) {
	s.mu.Lock()
	h := s.headers
	s.mu.Unlock()
	if h == nil {
		var err error
		if h, err = headObject(ctx, s.place, s.obj); err != nil {
			return nil, err
		}
		s.keep(h)
	}
	if h.tagCount > 0 && h.tags == "" {
		tags, err := objectTags(ctx, s.place, s.obj)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		h.tags = tags
		s.mu.Unlock()
	}
	return h, nil
}

// Metadata is what the copy is written with: the headers, every user
// metadata entry and the tags, in rclone's metadata keys, as the policy
// edits them.
func (s *sourceObject) Metadata(ctx context.Context) (fs.Metadata, error) {
	h, err := s.head(ctx)
	if err != nil {
		return nil, err
	}
	m := fs.Metadata{}
	for k, v := range h.user {
		m[strings.ToLower(k)] = v
	}
	// rclone writes its own modification time and multipart MD5 with
	// every upload: not the source's to carry.
	delete(m, "mtime")
	delete(m, "md5chksum")
	for k, v := range map[string]string{"content-type": h.contentType, "cache-control": h.cacheControl,
		"content-disposition": h.contentDisposition, "content-encoding": h.contentEncoding,
		"content-language": h.contentLanguage, "x-amz-tagging": h.tags} {
		if v != "" {
			m[k] = v
		}
	}
	if s.edit != nil {
		s.edit(m, s.obj)
	}
	return m, nil
}

// MimeType is the source's Content-Type.
func (s *sourceObject) MimeType(ctx context.Context) string {
	h, err := s.head(ctx)
	if err != nil {
		return ""
	}
	return h.contentType
}

// headObject reads o's headers with a HEAD.
func headObject(ctx context.Context, p bucketPlace, o object) (*headers, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.prefix + o.key)}
	if o.version != "" {
		in.VersionId = aws.String(o.version)
	}
	out, err := p.client.HeadObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("read the headers of %s/%s%s: %w", p.bucket, p.prefix, o.key, err)
	}
	return &headers{contentType: aws.ToString(out.ContentType), cacheControl: aws.ToString(out.CacheControl),
		contentDisposition: aws.ToString(out.ContentDisposition), contentEncoding: aws.ToString(out.ContentEncoding),
		contentLanguage: aws.ToString(out.ContentLanguage), expires: aws.ToString(out.ExpiresString),
		user: out.Metadata, tagCount: aws.ToInt32(out.TagCount)}, nil
}

// objectTags reads o's tags, URL-encoded as x-amz-tagging takes them.
func objectTags(ctx context.Context, p bucketPlace, o object) (string, error) {
	in := &s3.GetObjectTaggingInput{Bucket: aws.String(p.bucket), Key: aws.String(p.prefix + o.key)}
	if o.version != "" {
		in.VersionId = aws.String(o.version)
	}
	out, err := p.client.GetObjectTagging(ctx, in)
	if err != nil {
		return "", fmt.Errorf("read the tags of %s/%s%s: %w", p.bucket, p.prefix, o.key, err)
	}
	v := url.Values{}
	for _, t := range out.TagSet {
		v.Set(aws.ToString(t.Key), aws.ToString(t.Value))
	}
	return v.Encode(), nil
}
