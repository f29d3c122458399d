package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/offsite-backup/offsite/internal/retry"
)

// maxPingBody caps a ping's body: a summary, not a log (healthchecks
// keeps 100 kB at most).
const maxPingBody = 10_000

// Pinger sends healthchecks.io-style pings: POST <url>/start when a run
// starts, <url> when it succeeds, <url>/fail when it fails. A ping that
// cannot be delivered is logged and never fails the run: the monitoring
// side notices the missing ping on its own.
//
// The URL is a secret (it embeds the check's UUID or ping key), so only
// its scheme and host are ever logged.
type Pinger struct {
	url *url.URL // nil: pings are disabled
	log *zap.Logger

	Client   *http.Client
	Timeout  time.Duration // per attempt
	Attempts int
	Backoff  time.Duration // before the second attempt, doubled after
}

// NewPinger returns a Pinger for raw, an http or https URL; an empty raw
// gives a disabled Pinger whose methods do nothing. The error never
// quotes raw.
func NewPinger(raw string, log *zap.Logger) (*Pinger, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p := &Pinger{log: log, Client: http.DefaultClient, Timeout: 10 * time.Second, Attempts: 3, Backoff: time.Second}
	if raw == "" {
		return p, nil
	}
	u, err := parseHTTPURL(raw)
	if err != nil {
		return nil, err
	}
	p.url = u
	p.log = log.With(zap.String("ping", Redact(u)))
	return p, nil
}

// Enabled reports whether pings go anywhere.
func (p *Pinger) Enabled() bool { return p != nil && p.url != nil }

// Start signals that a run has started; healthchecks then measures the
// run's duration and can alert on a run that never finishes.
func (p *Pinger) Start(ctx context.Context) { p.send(ctx, "start", "") }

// Success signals a successful run, with a short summary as body.
func (p *Pinger) Success(ctx context.Context, body string) { p.send(ctx, "", body) }

// Fail signals a failed run, with a short summary as body.
func (p *Pinger) Fail(ctx context.Context, body string) { p.send(ctx, "fail", body) }

// send delivers one ping, retrying transient failures, until ctx ends:
// Outputs gives it a context of its own, which a SIGTERM does not cancel.
func (p *Pinger) send(ctx context.Context, suffix, body string) {
	if !p.Enabled() {
		return
	}
	target := p.url
	if suffix != "" {
		target = p.url.JoinPath(suffix)
	}
	if len(body) > maxPingBody {
		body = body[:maxPingBody]
	}
	kind := suffix
	if kind == "" {
		kind = "success"
	}
	err := retry.Do(ctx, p.Attempts, p.Backoff, func() (bool, error) {
		return p.post(ctx, target.String(), body)
	})
	if err != nil {
		p.log.Warn("ping failed", zap.String("kind", kind), zap.Int("attempts", p.Attempts), zap.Error(err))
		return
	}
	p.log.Debug("ping sent", zap.String("kind", kind))
}

// post makes one attempt; it reports whether a failure is worth a retry.
func (p *Pinger) post(ctx context.Context, target, body string) (retryable bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return false, errors.New("build request")
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := p.Client.Do(req)
	if err != nil {
		return true, redactError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("status %s", resp.Status)
	}
	return false, fmt.Errorf("status %s", resp.Status)
}

// ShardPlaceholder in a ping URL stands for the shard's index.
const ShardPlaceholder = "{shard}"

// HasShardPlaceholder reports whether raw, a ping URL, has ShardPlaceholder.
func HasShardPlaceholder(raw string) bool { return strings.Contains(raw, ShardPlaceholder) }

// ShardPingURL is the ping URL of shard index of count. Shards that shared
// one check would hide each other's failures (a shard's /fail, then
// another's success, reads as up), so each needs its own: raw with
// ShardPlaceholder in it (https://hc-ping.com/KEY/rgw-mirror-{shard}), or
// as many URLs as shards, one per line. Errors never quote raw: it is a
// secret.
func ShardPingURL(raw string, index, count int) (string, error) {
	switch {
	case raw == "":
		return "", nil
	case HasShardPlaceholder(raw):
		return strings.ReplaceAll(raw, ShardPlaceholder, strconv.Itoa(index)), nil
	}
	urls := strings.Fields(raw)
	if len(urls) != count {
		return "", fmt.Errorf("holds %d URL(s) for %d shards: a shard's success would hide another's /fail; give each shard its own check, with %s in the URL or one URL per shard, one per line",
			len(urls), count, ShardPlaceholder)
	}
	return urls[index], nil
}
