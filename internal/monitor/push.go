package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/offsite-backup/offsite/internal/retry"
)

// Pushgateway pushes a run's metrics to a Prometheus Pushgateway, the
// natural fit for a CronJob that is gone before any scrape.
type Pushgateway struct {
	url        string // scheme, host and path: no userinfo, query or fragment
	user, pass string
	instance   string

	Client   *http.Client
	Attempts int
	Backoff  time.Duration
}

// NewPushgateway returns a Pushgateway at raw, an http or https URL (basic
// auth credentials may ride in its userinfo). instance, if not empty,
// joins the job in the grouping key: jobs that run on several hosts
// (offload) need it so that hosts do not replace each other's metrics.
// The error never quotes raw.
func NewPushgateway(raw, instance string) (*Pushgateway, error) {
	u, err := parseHTTPURL(raw)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("URL must not have a query or fragment")
	}
	g := &Pushgateway{
		instance: instance,
		Client:   &http.Client{Timeout: 30 * time.Second},
		Attempts: 3,
		Backoff:  time.Second,
	}
	if u.User != nil {
		g.user = u.User.Username()
		g.pass, _ = u.User.Password()
		u.User = nil
	}
	g.url = u.String()
	return g, nil
}

// String is the Pushgateway's scheme and host, for logs.
func (g *Pushgateway) String() string {
	u, err := url.Parse(g.url)
	if err != nil {
		return ""
	}
	return Redact(u)
}

// Push sends run's metrics, grouped by job (run.Job) and instance.
//
// A successful run replaces the whole group (PUT). A failed run only
// replaces the metrics it sends (POST) and leaves out the last-success
// ones, so the gateway keeps when the job last succeeded. A bucket or host
// that succeeded within a failed run does not get a newer last success:
// the gateway may under-state freshness, never over-state it.
func (g *Pushgateway) Push(ctx context.Context, run Run) error {
	if err := run.validate(); err != nil {
		return err
	}
	var last *lastSuccess
	if run.OK {
		l := carry(run, lastSuccess{})
		last = &l
	}
	pusher := push.New(g.url, string(run.Job)).
		Gatherer(registry(run, last)).
		Client(g.Client)
	if g.instance != "" {
		pusher = pusher.Grouping("instance", g.instance)
	}
	if g.user != "" || g.pass != "" {
		pusher = pusher.BasicAuth(g.user, g.pass)
	}
	send := pusher.AddContext
	if run.OK {
		send = pusher.PushContext
	}
	err := retry.Do(ctx, g.Attempts, g.Backoff, func() (bool, error) {
		if err := send(ctx); err != nil {
			return ctx.Err() == nil, redactError(err)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", g, err)
	}
	return nil
}

// labelValue is the value of the label called name, or "".
func labelValue(labels []*dto.LabelPair, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
