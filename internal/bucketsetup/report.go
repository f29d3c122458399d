package bucketsetup

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.uber.org/zap"
)

// Report is what Setup did or Verify found, a row per bucket.
type Report struct {
	RetentionDays int            `json:"retention_days"`
	DryRun        bool           `json:"dry_run,omitempty"`
	Buckets       []BucketReport `json:"buckets"`
}

// BucketReport is one bucket's protection; after Setup, as it reads back
// (as it is, in a dry run).
type BucketReport struct {
	Bucket string `json:"bucket"`
	// Checked is false when something could not be read: Errors says what,
	// and the other fields are what was read before.
	Checked    bool   `json:"checked"`
	Exists     bool   `json:"exists"`
	Versioning string `json:"versioning,omitempty"` // Enabled, Suspended, Unversioned
	// Lifecycle is the rule that expires noncurrent versions within the
	// retention; empty when there is none.
	Lifecycle string   `json:"lifecycle,omitempty"`
	Changes   []Change `json:"changes,omitempty"` // Setup: every setting, changed or not
	Problems  []string `json:"problems"`
	Errors    []string `json:"errors,omitempty"`
}

// Change is one setting of a bucket as Setup left it.
type Change struct {
	Setting string `json:"setting"` // bucket, versioning or lifecycle
	Action  string `json:"action"`  // unchanged, created, enabled, added, updated; "would ..." in a dry run
	State   string `json:"state"`   // the setting now (in a dry run: as it would be)
}

// OK reports whether the bucket was checked and is protected.
func (b BucketReport) OK() bool { return b.Checked && len(b.Problems) == 0 }

// VersioningOK and LifecycleOK are the two protections, for the metrics.
func (b BucketReport) VersioningOK() bool { return b.Versioning == VersioningEnabled }
func (b BucketReport) LifecycleOK() bool  { return b.Lifecycle != "" }

// fill sets what st shows, and the problems it has: those of what was
// read, when not all of it could be.
func (b *BucketReport) fill(st state, days int) {
	b.Exists, b.Versioning, b.Lifecycle = st.exists, st.versioning, ""
	if r := st.lifecycle.covering(days); r != nil {
		b.Lifecycle = r.String()
	}
	b.Problems = []string{}
	if !st.looked {
		return // nothing was read
	}
	if !st.exists {
		b.Problems = append(b.Problems, "the bucket does not exist (offsite setup minio creates it)")
		return
	}
	if st.versioning != "" && st.versioning != VersioningEnabled {
		b.Problems = append(b.Problems, fmt.Sprintf("versioning is %s, not %s: an overwritten or deleted object is gone for good, and restore --at has nothing to read (offsite setup minio enables it)", st.versioning, VersioningEnabled))
	}
	if st.lifecycleRead && b.Lifecycle == "" {
		b.Problems = append(b.Problems, fmt.Sprintf("no lifecycle rule expires noncurrent versions within %d days: old versions are kept forever and fill the disk (offsite setup minio adds %s)", days, RuleID))
	}
}

func (b BucketReport) changed() bool {
	for _, c := range b.Changes {
		if c.Action != unchanged {
			return true
		}
	}
	return false
}

func (r *Report) problems() int {
	n := 0
	for _, b := range r.Buckets {
		n += len(b.Problems)
	}
	return n
}

func (b BucketReport) log(log *zap.Logger) {
	for _, c := range b.Changes {
		if c.Action != unchanged {
			log.Info("destination bucket setting", zap.String("setting", c.Setting), zap.String("action", c.Action), zap.String("state", c.State))
		}
	}
	if len(b.Problems) > 0 || len(b.Errors) > 0 {
		log.Error("destination bucket not protected", zap.Strings("problems", b.Problems), zap.Strings("errors", b.Errors))
	}
}

// WriteTable prints a verify: a row per bucket, then each problem.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tEXISTS\tVERSIONING\tLIFECYCLE\tOK")
	for _, b := range r.Buckets {
		exists := yesNo(b.Exists)
		if !b.Checked && !b.Exists {
			exists = "?" // the look for it failed
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Bucket, exists, dash(b.Versioning), dash(b.Lifecycle), yesNo(b.OK()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return r.writeProblems(w)
}

// WriteChanges prints a setup: a row per bucket and setting, what was done
// with it and how it is now; then a line that sums it up.
func (r *Report) WriteChanges(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BUCKET\tSETTING\tACTION\tNOW")
	changes, changed := 0, []string{}
	for _, b := range r.Buckets {
		n := 0
		for _, c := range b.Changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Bucket, c.Setting, c.Action, c.State)
			if c.Action != unchanged {
				n++
			}
		}
		if n > 0 {
			changes += n
			changed = append(changed, b.Bucket)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.writeProblems(w); err != nil {
		return err
	}
	var err error
	switch {
	case changes == 0:
		_, err = fmt.Fprintf(w, "setup minio: nothing to change in %d buckets (retention %d days)\n", len(r.Buckets), r.RetentionDays)
	case r.DryRun:
		_, err = fmt.Fprintf(w, "setup minio: dry run: would make %d changes in %s (retention %d days); nothing was changed\n", changes, strings.Join(changed, ", "), r.RetentionDays)
	default:
		_, err = fmt.Fprintf(w, "setup minio: made %d changes in %s (retention %d days)\n", changes, strings.Join(changed, ", "), r.RetentionDays)
	}
	return err
}

func (r *Report) writeProblems(w io.Writer) error {
	for _, b := range r.Buckets {
		for _, p := range b.Problems {
			if _, err := fmt.Fprintf(w, "%s: %s\n", b.Bucket, p); err != nil {
				return err
			}
		}
		for _, e := range b.Errors {
			if _, err := fmt.Fprintf(w, "%s: not checked: %s\n", b.Bucket, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func yesNo(b bool) string {
	return map[bool]string{true: "yes", false: "no"}[b]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
