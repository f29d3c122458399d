package monitor

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// parseHTTPURL accepts absolute http and https URLs. Its errors never
// quote raw: monitoring URLs carry secrets in their path, query or
// userinfo, and url.Parse's own errors repeat the input.
func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("not an http:// or https:// URL")
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// Redact returns what of u can be logged: its scheme and host.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// redactError drops the URL that net/http puts in its errors (it strips
// a password, not the path or query), keeping the operation and cause.
func redactError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
