package mirror

import (
	"context"
	"fmt"
	"maps"
	"strings"
)

// verdict is how the two sides of a pair compared.
type verdict int

const (
	differs  verdict = iota
	sameHash         // same size and MD5
	sameDate         // same size, no common MD5, and nothing says the source changed since its copy
)

// rule is a rule of equality of a pair: mirrorRule, or restoreRule.
type rule func(ctx context.Context, src, dst object) (verdict, string, error)

// mirrorRule is mirrorEqual as a rule.
func mirrorRule(_ context.Context, src, dst object) (verdict, string, error) {
	v, why := mirrorEqual(src, dst)
	return v, why, nil
}

// restoreRule is restoreEqual as a rule, for the mirror's copies at mirror.
func restoreRule(mirror bucketPlace) rule {
	return func(ctx context.Context, src, dst object) (verdict, string, error) {
		return restoreEqual(ctx, mirror, src, dst)
	}
}

// mirrorEqual is the rule of equality of a mirror and of its verify. The
// destination is a copy written from the source, so it is stale when the
// sizes differ, when both have an MD5 (single-part ETags) and they differ,
// or when the source was written after its copy was: that last is how a
// same-size overwrite of a multipart object (no MD5 on either side) and a
// change of headers alone (the same ETag) show in a listing. Never sizes
// alone. It needs no request: the listings have it all.
func mirrorEqual(src, dst object) (verdict, string) {
	srcMD5, dstMD5 := src.md5(), dst.md5()
	switch {
	case src.size != dst.size:
		return differs, fmt.Sprintf("size %d at the source, %d at the destination", src.size, dst.size)
	case srcMD5 != "" && dstMD5 != "" && srcMD5 != dstMD5:
		return differs, "MD5 differs"
	case src.modified.After(dst.modified):
		return differs, fmt.Sprintf("written at the source at %s, after its copy (%s)", src.modified.UTC().Format("2006-01-02T15:04:05.000Z"), dst.modified.UTC().Format("2006-01-02T15:04:05.000Z"))
	case srcMD5 != "" && dstMD5 != "":
		return sameHash, ""
	}
	return sameDate, ""
}

// sourceETagKey is the user metadata entry a mirror copy records its
// source's ETag in (x-amz-meta-offsite-source-etag): a restore tells by it
// whether an object in the RGW is the one the copy was made from, when
// their ETags are not comparable MD5s.
const sourceETagKey = "offsite-source-etag"

// restoreEqual is the rule of equality of a restore: the mirror's copy src
// and the RGW's object dst are equal when their sizes and MD5s agree, or,
// without a common MD5, when dst is the object src was copied from (its
// ETag is the one src recorded: a HEAD of src). A restored object's date
// says nothing: it is newer than its mirror copy whatever it holds.
func restoreEqual(ctx context.Context, mirror bucketPlace, src, dst object) (verdict, string, error) {
	srcMD5, dstMD5 := src.md5(), dst.md5()
	switch {
	case src.size != dst.size:
		return differs, fmt.Sprintf("size %d in the mirror, %d in the RGW", src.size, dst.size), nil
	case srcMD5 != "" && dstMD5 != "" && srcMD5 != dstMD5:
		return differs, "MD5 differs", nil
	case srcMD5 != "" && dstMD5 != "":
		return sameHash, "", nil
	}
	h, err := headObject(ctx, mirror, src)
	if err != nil {
		return differs, "", err
	}
	if recorded := userEntry(h.user, sourceETagKey); recorded == "" || recorded != dst.etag {
		return differs, "not the object its mirror copy was made from (ETag " + dst.etag + ")", nil
	}
	return sameDate, "", nil
}

// userEntry is the user metadata entry key, whatever case the server
// answered its name in.
func userEntry(user map[string]string, key string) string {
	for k, v := range user {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// addedByCopy are the user metadata entries a copy carries that its
// source does not: rclone's modification time and MD5, and offsite's
// record of the source.
var addedByCopy = map[string]bool{"mtime": true, "md5chksum": true, sourceETagKey: true}

// sameCarried compares what two objects carry besides their bytes: the
// headers, the user metadata (but for what a copy adds) and the tags. It
// says how they differ, "" when they do not: a HEAD of each, and their
// tags where they have some.
func sameCarried(ctx context.Context, pa, pb bucketPlace, a, b object) (string, error) {
	ha, err := carriedBy(ctx, pa, a)
	if err != nil {
		return "", err
	}
	hb, err := carriedBy(ctx, pb, b)
	if err != nil {
		return "", err
	}
	for _, f := range []struct{ name, a, b string }{
		{"Content-Type", ha.contentType, hb.contentType}, {"Cache-Control", ha.cacheControl, hb.cacheControl},
		{"Content-Disposition", ha.contentDisposition, hb.contentDisposition}, {"Content-Encoding", ha.contentEncoding, hb.contentEncoding},
		{"Content-Language", ha.contentLanguage, hb.contentLanguage}, {"Expires", ha.expires, hb.expires}, {"tags", ha.tags, hb.tags},
	} {
		if f.a != f.b {
			return fmt.Sprintf("%s %q, its copy's %q", f.name, f.a, f.b), nil
		}
	}
	ua, ub := userOwn(ha.user), userOwn(hb.user)
	if !maps.Equal(ua, ub) {
		return fmt.Sprintf("user metadata %v, its copy's %v", ua, ub), nil
	}
	return "", nil
}

// carriedBy is what o carries besides its bytes: its headers and tags.
func carriedBy(ctx context.Context, p bucketPlace, o object) (*headers, error) {
	h, err := headObject(ctx, p, o)
	if err == nil && h.tagCount > 0 {
		h.tags, err = objectTags(ctx, p, o)
	}
	return h, err
}

// userOwn is user metadata without what a copy adds, names in lower case.
func userOwn(user map[string]string) map[string]string {
	own := map[string]string{}
	for k, v := range user {
		if k = strings.ToLower(k); !addedByCopy[k] {
			own[k] = v
		}
	}
	return own
}
