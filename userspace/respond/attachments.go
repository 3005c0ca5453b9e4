package respond

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Attachment is one Cloud WAN VPC attachment and what it carries.
type Attachment struct {
	ID        string   // attachment-0123...
	Account   string   // owner account (for the ARN)
	Partition string   // aws (default), aws-cn, aws-us-gov
	VPC       string   // vpc-...
	ENIs      []string // eni-... inside that VPC
	Line      int
}

// AttachmentMap maps ENIs and VPCs to their attachments; TagKey is the
// tag the core network policy's attachment rule reads ("domain" in the
// sample's policy).
type AttachmentMap struct {
	File        string
	TagKey      string
	Attachments []Attachment
}

var (
	attachRe  = regexp.MustCompile(`^attachment-[0-9a-f]{8,17}$`)
	accountRe = regexp.MustCompile(`^\d{12}$`)
)

// LoadAttachments reads the map:
//
//	tag_key: domain
//	account: "123456789012"          # default for every attachment
//	attachments:
//	  - {attachment: attachment-0a1b2c3d4e5f60789, vpc: vpc-0123456789abcdef0, enis: [eni-...]}
//
// Every problem is reported with its file:line.
func LoadAttachments(path string) (*AttachmentMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		TagKey      string      `yaml:"tag_key"`
		Account     yaml.Node   `yaml:"account"`
		Partition   string      `yaml:"partition"`
		Attachments []yaml.Node `yaml:"attachments"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &AttachmentMap{File: path, TagKey: doc.TagKey}
	if m.TagKey == "" {
		m.TagKey = "domain"
	}
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	account := doc.Account.Value
	if account != "" && !accountRe.MatchString(account) {
		bad(doc.Account.Line, "account %q: want a 12-digit AWS account id (quote it)", account)
	}
	seen := map[string]int{}
	for _, n := range doc.Attachments {
		var a struct {
			Attachment string    `yaml:"attachment"`
			Account    yaml.Node `yaml:"account"`
			VPC        string    `yaml:"vpc"`
			ENIs       []string  `yaml:"enis"`
		}
		if err := n.Decode(&a); err != nil {
			bad(n.Line, "%v", err)
			continue
		}
		at := Attachment{ID: a.Attachment, Account: a.Account.Value, Partition: doc.Partition, VPC: a.VPC, ENIs: a.ENIs, Line: n.Line}
		if at.Account == "" {
			at.Account = account
		}
		switch {
		case !attachRe.MatchString(at.ID):
			bad(n.Line, "attachment %q: want an id like attachment-0a1b2c3d4e5f60789", at.ID)
			continue
		case a.Account.Value != "" && !accountRe.MatchString(a.Account.Value):
			bad(n.Line, "account %q: want a 12-digit AWS account id (quote it)", a.Account.Value)
			continue
		case at.VPC == "" && len(at.ENIs) == 0:
			bad(n.Line, "attachment %s maps nothing: give vpc or enis", at.ID)
			continue
		}
		for _, k := range append([]string{at.VPC}, at.ENIs...) {
			if k == "" {
				continue
			}
			if prev, dup := seen[k]; dup {
				bad(n.Line, "%s is already mapped at line %d", k, prev)
			}
			seen[k] = n.Line
		}
		m.Attachments = append(m.Attachments, at)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Lookup finds the attachment of the first ENI, else the first VPC, that
// is mapped.
func (m *AttachmentMap) Lookup(enis, vpcs []string) (Attachment, bool) {
	for _, e := range enis {
		for _, a := range m.Attachments {
			for _, x := range a.ENIs {
				if x == e {
					return a, true
				}
			}
		}
	}
	for _, v := range vpcs {
		for _, a := range m.Attachments {
			if a.VPC != "" && a.VPC == v {
				return a, true
			}
		}
	}
	return Attachment{}, false
}
