package bucketsetup

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/offsite-backup/offsite/rcloneconf"
)

// requestTimeout bounds one request (a few KiB each way); rcloneconf.Call
// tries it 3 times.
const requestTimeout = 15 * time.Second

// maxLifecycleSize bounds what is read of a lifecycle configuration: S3
// allows 1,000 rules, far less than this.
const maxLifecycleSize = 4 << 20

// Versioning statuses, as S3 names them; a bucket never versioned has none.
const (
	VersioningEnabled     = "Enabled"
	VersioningSuspended   = "Suspended"
	VersioningUnversioned = "Unversioned"
)

// client talks to one target's bucket.
type client struct {
	s3     *s3.Client
	end    rcloneconf.End
	bucket string
}

func newClient(t Target) (*client, error) {
	c, err := t.Remote.S3Client(requestTimeout)
	if err != nil {
		return nil, err
	}
	return &client{s3: c, end: t.End, bucket: t.Bucket}, nil
}

// call runs one request with the project's retries and error classifier.
func (c *client) call(ctx context.Context, what string, fn func(context.Context) error) error {
	if err := rcloneconf.Call(ctx, c.end, fn); err != nil {
		return fmt.Errorf("%s %s: %w", what, c.bucket, err)
	}
	return nil
}

// state is how a bucket is set up now.
type state struct {
	looked        bool // the server answered whether the bucket exists
	exists        bool
	versioning    string // VersioningEnabled, VersioningSuspended, VersioningUnversioned; "" not read
	lifecycle     lifecycle
	lifecycleRead bool
}

// inspect reads the bucket's state: three requests, all reads.
func (c *client) inspect(ctx context.Context) (state, error) {
	var st state
	err := c.call(ctx, "look for bucket", func(ctx context.Context) error {
		_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &c.bucket})
		var nf *types.NotFound
		st.exists = err == nil
		if errors.As(err, &nf) {
			err = nil
		}
		st.looked = err == nil
		return err
	})
	if err != nil || !st.exists {
		return st, err
	}
	err = c.call(ctx, "read the versioning of", func(ctx context.Context) error {
		out, err := c.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &c.bucket})
		if err == nil {
			st.versioning = string(out.Status)
			if st.versioning == "" {
				st.versioning = VersioningUnversioned
			}
		}
		return err
	})
	if err != nil {
		return st, err
	}
	err = c.call(ctx, "read the lifecycle rules of", func(ctx context.Context) error {
		data, err := c.lifecycleRequest(ctx, http.MethodGet, nil)
		if errorCode(err) == "NoSuchLifecycleConfiguration" {
			st.lifecycle, st.lifecycleRead = lifecycle{}, true
			return nil
		}
		if err == nil {
			st.lifecycle, err = parseLifecycle(data)
			st.lifecycleRead = err == nil
		}
		return err
	})
	return st, err
}

func (c *client) createBucket(ctx context.Context) error {
	in := &s3.CreateBucketInput{Bucket: &c.bucket}
	if region := c.s3.Options().Region; region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	return c.call(ctx, "create bucket", func(ctx context.Context) error {
		_, err := c.s3.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil // a try whose answer was lost made it
		}
		return err
	})
}

func (c *client) enableVersioning(ctx context.Context) error {
	return c.call(ctx, "enable versioning on", func(ctx context.Context) error {
		_, err := c.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &c.bucket,
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
		return err
	})
}

func (c *client) putLifecycle(ctx context.Context, lc lifecycle) error {
	body := lc.encode()
	return c.call(ctx, "write the lifecycle rules of", func(ctx context.Context) error {
		_, err := c.lifecycleRequest(ctx, http.MethodPut, body)
		return err
	})
}

// lifecycleRequest GETs or PUTs the bucket's lifecycle configuration as
// XML, signed with the client's keys: the SDK's typed calls would lose the
// elements of other rules that its types do not know (see lifecycle).
func (c *client) lifecycleRequest(ctx context.Context, method string, body []byte) ([]byte, error) {
	o := c.s3.Options()
	u := strings.TrimSuffix(*o.BaseEndpoint, "/") + "/" + url.PathEscape(c.bucket) + "?lifecycle="
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if method == http.MethodPut {
		// S3 refuses a lifecycle PUT without a checksum of its body.
		md := md5.Sum(body)
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(md[:]))
		req.Header.Set("Content-Type", "application/xml")
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payload, "s3", o.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxLifecycleSize+1))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode/100 != 2:
		return nil, newResponseError(resp.StatusCode, data)
	case len(data) > maxLifecycleSize:
		return nil, fmt.Errorf("the lifecycle configuration is larger than %d MiB", maxLifecycleSize>>20)
	}
	return data, nil
}

// responseError is an S3 error answer to a request the SDK did not make.
// It answers as the SDK's errors do (smithy.APIError, HTTPStatusCode), so
// rcloneconf's classifier and retries treat it alike.
type responseError struct {
	status        int
	code, message string
}

func newResponseError(status int, body []byte) *responseError {
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	_ = xml.Unmarshal(body, &e) // a body that is not S3's error XML leaves the status alone
	return &responseError{status: status, code: e.Code, message: e.Message}
}

func (e *responseError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}
func (e *responseError) ErrorCode() string    { return e.code }
func (e *responseError) ErrorMessage() string { return e.message }
func (e *responseError) HTTPStatusCode() int  { return e.status }
func (e *responseError) ErrorFault() smithy.ErrorFault {
	if e.status >= 500 {
		return smithy.FaultServer
	}
	return smithy.FaultClient
}

// errorCode is the S3 error code of err, or "".
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
