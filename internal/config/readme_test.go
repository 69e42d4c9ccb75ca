package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestTheREADMEsConfigIsValid keeps the configuration a newcomer copies
// from README.md in step with the code: the agent.yaml example, with the
// azure: and gcp: blocks shown after it put in its collectors, must parse
// and validate.
func TestTheREADMEsConfigIsValid(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "## Configuration")
	if i < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(s[i:], 3)
	if len(blocks) < 3 {
		t.Fatalf("README.md's Configuration section has %d yaml blocks, want the agent.yaml, azure and gcp ones", len(blocks))
	}
	doc, azure, gcp := blocks[0][1], blocks[1][1], blocks[2][1]
	if !strings.HasPrefix(azure, "  azure:") || !strings.HasPrefix(gcp, "  gcp:") {
		t.Fatalf("the second and third yaml blocks are not the azure: and gcp: collector blocks:\n%s\n%s", azure, gcp)
	}
	doc = strings.Replace(doc, "\nexporters:\n", "\n"+azure+gcp+"exporters:\n", 1)
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("README.md's configuration does not validate:\n%v\n\n%s", err, doc)
	}
	if cfg.Collectors.AWS == nil || cfg.Collectors.Azure == nil || cfg.Collectors.GCP == nil {
		t.Errorf("not every collector block was read: %+v", cfg.Collectors)
	}
}
