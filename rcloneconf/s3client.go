package rcloneconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/offsite-backup/offsite/internal/exitcode"
	"github.com/offsite-backup/offsite/internal/retry"
)

// S3Client is an AWS SDK client for the remote, for the little rclone does
// not do (bucket versioning, lifecycle rules): the same endpoint, keys,
// region, CA and path-style addressing as the remote's rclone Fs. Each
// request ends after timeout, and the SDK never tries again on its own:
// Call does, with the project's one retry loop.
func (r Remote) S3Client(timeout time.Duration) (*s3.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA bundle of %s: %w", r.Name, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA bundle of %s holds no PEM certificate", r.Name)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	region := r.Region
	if region == "" {
		region = "us-east-1" // SigV4 needs one; S3 servers without regions take this
	}
	return s3.New(s3.Options{
		HTTPClient:   &http.Client{Transport: transport, Timeout: timeout},
		BaseEndpoint: aws.String(r.Endpoint),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(r.AccessKeyID, r.SecretAccessKey, ""),
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
		// Checksums only where the operation needs one: RGW refuses the
		// SDK's default CRC trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}), nil
}

// callTries is how often Call tries one request.
const callTries = 3

// Call runs fn, one S3 request of offsite's own to end, and tries it again
// (3 tries, 1 s then 2 s apart) while it fails in a way another try may
// mend: no answer at all, a 5xx, a 429. Its error is classified for end:
// refused keys or a certificate that does not verify are exit 2.
func Call(ctx context.Context, end End, fn func(context.Context) error) error {
	return retry.Do(ctx, callTries, time.Second, func() (bool, error) {
		err := Classify(end, fn(ctx))
		return transient(ctx, err), err
	})
}

// transient reports whether err may pass on another try.
func transient(ctx context.Context, err error) bool {
	var cfg *exitcode.ConfigError
	if err == nil || ctx.Err() != nil || errors.As(err, &cfg) {
		return false
	}
	if status := httpStatus(err); status != 0 {
		return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
	}
	return true // no answer: a timeout, a refused or reset connection
}

// Or is the remote of s, an end whose variables may be left unset for
// base's (the etcd bucket's MINIO_ETCD_*, falling back to MINIO_*): an
// unset endpoint is base's, and so are the keys when none of the four key
// variables is set; region and CA bundle are always base's. The End
// returned is the one whose keys the remote uses, for Classify.
func (s Settings) Or(base Remote, baseEnd End, name string) (Remote, End, error) {
	r := base
	r.Name = name
	if strings.TrimSpace(s.Endpoint) != "" {
		var err error
		if r.Endpoint, err = endpoint(s.End.Var("ENDPOINT"), s.Endpoint); err != nil {
			return Remote{}, "", err
		}
	}
	if s.AccessKeyID+s.AccessKeyIDFile+s.SecretAccessKey+s.SecretAccessKeyFile == "" {
		return r, baseEnd, nil
	}
	var err error
	if r.AccessKeyID, err = Secret(s.End.Var("ACCESS_KEY_ID"), s.AccessKeyID, s.AccessKeyIDFile); err != nil {
		return Remote{}, "", err
	}
	if r.SecretAccessKey, err = Secret(s.End.Var("SECRET_ACCESS_KEY"), s.SecretAccessKey, s.SecretAccessKeyFile); err != nil {
		return Remote{}, "", err
	}
	return r, s.End, nil
}
