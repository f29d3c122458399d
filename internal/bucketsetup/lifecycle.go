package bucketsetup

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// RuleID names the lifecycle rule setup adds and keeps: any other rule is
// someone else's and is left exactly as it is.
const RuleID = "offsite-noncurrent-expiry"

// lifecycle is a bucket's lifecycle configuration as the server sent it.
// Each rule keeps its XML as it came: a PUT replaces every rule, and
// decoding into the SDK's types would drop what they do not know (MinIO's
// DelMarkerExpiration, ExpiredObjectAllVersions), so writing back would
// change rules that are not ours.
type lifecycle struct {
	Rules []rule `xml:"Rule"`
}

// rule is one lifecycle rule: its raw XML, and what of it setup reads.
type rule struct {
	Raw        string             `xml:",innerxml"`
	ID         string             `xml:"ID"`
	Status     string             `xml:"Status"`
	Prefix     *string            `xml:"Prefix"` // the old form of Filter
	Filter     *filter            `xml:"Filter"`
	Noncurrent *noncurrentElement `xml:"NoncurrentVersionExpiration"`
}

type filter struct {
	Prefix  string    `xml:"Prefix"`
	Tag     *struct{} `xml:"Tag"`
	And     *struct{} `xml:"And"`
	Greater *struct{} `xml:"ObjectSizeGreaterThan"`
	Less    *struct{} `xml:"ObjectSizeLessThan"`
}

type noncurrentElement struct {
	Days  int `xml:"NoncurrentDays"`
	Newer int `xml:"NewerNoncurrentVersions"` // versions kept whatever their age
}

func parseLifecycle(data []byte) (lifecycle, error) {
	var lc lifecycle
	if err := xml.Unmarshal(data, &lc); err != nil {
		return lifecycle{}, fmt.Errorf("parse the lifecycle configuration: %w", err)
	}
	return lc, nil
}

// encode is the configuration as a PUT sends it: every rule's own XML.
func (lc lifecycle) encode() []byte {
	var b bytes.Buffer
	b.WriteString(`<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	for _, r := range lc.Rules {
		b.WriteString("<Rule>" + r.Raw + "</Rule>")
	}
	b.WriteString("</LifecycleConfiguration>")
	return b.Bytes()
}

// ownRule is the rule setup adds: noncurrent versions of every object
// expire days after they stop being current.
func ownRule(days int) rule {
	return rule{
		Raw: fmt.Sprintf("<ID>%s</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>"+
			"<NoncurrentVersionExpiration><NoncurrentDays>%d</NoncurrentDays></NoncurrentVersionExpiration>", RuleID, days),
		ID: RuleID, Status: "Enabled", Filter: &filter{}, Noncurrent: &noncurrentElement{Days: days},
	}
}

// expiresWithin reports whether r expires every noncurrent version of the
// whole bucket at most days after it became noncurrent. A rule limited to
// a prefix, tags or sizes, or one that keeps some versions whatever their
// age, does not.
func (r rule) expiresWithin(days int) bool {
	n := r.Noncurrent
	return r.Status == "Enabled" && n != nil && n.Days > 0 && n.Days <= days && n.Newer == 0 && r.wholeBucket()
}

func (r rule) wholeBucket() bool {
	if r.Prefix != nil && *r.Prefix != "" {
		return false
	}
	f := r.Filter
	return f == nil || f.Prefix == "" && f.Tag == nil && f.And == nil && f.Greater == nil && f.Less == nil
}

// String describes the rule for people.
func (r rule) String() string {
	id := r.ID
	if id == "" {
		id = "(a rule without an ID)"
	}
	return fmt.Sprintf("%s: noncurrent versions expire after %d days", id, r.Noncurrent.Days)
}

// covering is the rule that expires noncurrent versions within days (our
// own first), or nil.
func (lc lifecycle) covering(days int) *rule {
	var found *rule
	for i, r := range lc.Rules {
		if r.expiresWithin(days) && (found == nil || r.ID == RuleID) {
			found = &lc.Rules[i]
		}
	}
	return found
}

// withExpiry returns the configuration that expires noncurrent versions
// after days, and what it changed: "" when lc already does (our own rule
// at exactly days, or another rule within days: left alone), else "added"
// or "updated" (our rule, at another age or disabled). Every other rule
// is kept as it is.
func (lc lifecycle) withExpiry(days int) (lifecycle, string) {
	var out lifecycle
	action := "added"
	for _, r := range lc.Rules {
		switch {
		case r.ID == RuleID && r.expiresWithin(days) && r.Noncurrent.Days == days:
			return lc, ""
		case r.ID == RuleID:
			action = "updated"
		default:
			out.Rules = append(out.Rules, r)
		}
	}
	for _, r := range out.Rules {
		if r.expiresWithin(days) {
			return lc, ""
		}
	}
	out.Rules = append(out.Rules, ownRule(days))
	return out, action
}
