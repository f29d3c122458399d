package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/offsite-backup/offsite/internal/bucketsetup"
	"github.com/offsite-backup/offsite/mirror"
)

// WriteTable prints the view for people: a table per side, then every
// problem, then one line with the verdict.
func (r *Report) WriteTable(w io.Writer) error {
	when := func(t time.Time) (string, string) { return t.UTC().Format("2006-01-02 15:04Z"), ago(r.Checked.Sub(t)) }
	var rows [][]string
	for _, run := range r.Mirror.Runs {
		for _, b := range run.Buckets {
			end, age := when(run.End)
			rows = append(rows, []string{b.Name, b.Status, end, age, strconv.FormatInt(b.Objects, 10), strconv.FormatInt(b.Transferred, 10)})
		}
		if run.Status == mirror.StatusMissing {
			rows = append(rows, []string{"(shard " + run.Shard.String() + ")", run.Status, "-", "-", "-", "-"})
		}
	}
	table(w, []string{"MIRROR " + r.Mirror.Bucket, "STATUS", "LAST RUN", "AGE", "OBJECTS", "TRANSFERRED"}, rows)
	rows = nil
	for _, h := range r.Etcd.Hosts {
		row := []string{h.Host, strconv.Itoa(h.Snapshots), "-", "-"}
		if h.Newest != "" {
			_, row[3] = when(h.Time)
			row[2] = h.Newest
		}
		rows = append(rows, row)
	}
	table(w, []string{"ETCD " + r.Etcd.Bucket, "SNAPSHOTS", "NEWEST", "AGE"}, rows)
	rows = nil
	for _, b := range r.Destinations {
		rows = append(rows, destinationRow(b))
	}
	table(w, []string{"DESTINATION", "EXISTS", "VERSIONING", "LIFECYCLE"}, rows)
	rows = nil
	for _, rec := range r.Records {
		row := []string{string(rec.Kind), "never", "-", "-", rec.Bucket}
		if l := rec.Last; l != nil {
			row[1] = l.Status
			row[2], row[3] = when(l.End)
		}
		rows = append(rows, row)
	}
	table(w, []string{"LAST CHECK", "STATUS", "ENDED", "AGE", "BUCKET"}, rows)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "not read: %s\n", e)
	}
	verdict := "ok"
	if !r.OK {
		verdict = fmt.Sprintf("%d problems, %d things not read", len(r.Problems), len(r.Errors))
	}
	_, err := fmt.Fprintf(w, "status: %s (maximum age %s)\n", verdict, shortDuration(r.MaxAge))
	return err
}

// table writes one aligned section and a blank line after it.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// destinationRow is a destination bucket's protection; "?" for what could
// not be read.
func destinationRow(b bucketsetup.BucketReport) []string {
	row := []string{b.Bucket, "no", b.Versioning, b.Lifecycle}
	if b.Exists {
		row[1] = "yes"
	}
	for i, cell := range row {
		switch {
		case cell != "":
		case !b.Checked:
			row[i] = "?"
		default:
			row[i] = "-"
		}
	}
	if !b.Checked && !b.Exists {
		row[1] = "?"
	}
	return row
}

// ago is an age for people: 42m, 13h05m, 3d04h.
func ago(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// shortDuration is 25h, not 25h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
