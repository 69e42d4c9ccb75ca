package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eucs-agent/eucs-agent/collectors"
)

func TestShardFlagsAreCheckedTogether(t *testing.T) {
	cfg := simConfig(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard-index", "1"}, "collect: --shard-index and --shard-count must be given together\n"},
		{[]string{"--shard-count", "3"}, "collect: --shard-index and --shard-count must be given together\n"},
		{[]string{"--shard-index", "3", "--shard-count", "3"}, "collect: --shard-index: must be from 0 to count-1 (2), got 3\n"},
		{[]string{"--shard-index", "-1", "--shard-count", "0"}, "collect: --shard-count: must be at least 1, got 0\n--shard-index: must be from 0 to count-1 (0), got -1\n"},
	} {
		code, _, stderr := runCmd(t, append([]string{"collect", "--config", cfg}, tc.args...)...)
		if code != exitBadUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.args, code, stderr, exitBadUsage, tc.want)
		}
	}
}

func TestShardFlagsPickTheReplicasScopesAndChain(t *testing.T) {
	cfg := simConfig(t, "")
	owner := 0
	if !(&collectors.Shard{Index: 0, Count: 2}).Owns("111111111111") {
		owner = 1
	}
	code, stdout, stderr := runCmd(t, "collect", "--config", cfg, "--shard-index", fmt.Sprint(owner), "--shard-count", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(filepath.Dir(cfg), "evidence", "bundle-000000000001.dsse.json")
	if !strings.Contains(stdout, path) {
		t.Fatalf("stdout does not name %s:\n%s", path, stdout)
	}
	payload := decodePayload(t, path)
	for _, want := range []string{fmt.Sprintf(`"chain":{"id":"shard-%d","sequence":1,`, owner), `"account":"111111111111"`} {
		if !strings.Contains(string(payload), want) {
			t.Errorf("payload lacks %s", want)
		}
	}

	// The same state directory under the other index is another chain.
	code, _, stderr = runCmd(t, "collect", "--config", cfg, "--shard-index", fmt.Sprint(1-owner), "--shard-count", "2")
	want := fmt.Sprintf("keeps chain shard-%d (at sequence 1), but this agent is configured for chain shard-%d", owner, 1-owner)
	if code != exitFailed || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, stderr)
	}
}

func TestValidateNamesTheReplicasChain(t *testing.T) {
	cfg := simConfig(t, "")
	code, stdout, stderr := runCmd(t, "validate", "--config", cfg, "--shard-index", "2", "--shard-count", "3")
	if code != exitOK || !strings.Contains(stdout, `at level high, chain shard-2, next run`) {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

func TestAReplicaWithNoScopeSealsNothingAndSucceeds(t *testing.T) {
	cfg := simConfig(t, "")
	other := 1
	if !(&collectors.Shard{Index: 0, Count: 2}).Owns("111111111111") {
		other = 0
	}
	code, stdout, stderr := runCmd(t, "collect", "--config", cfg, "--shard-index", fmt.Sprint(other), "--shard-count", "2")
	want := "Nothing sealed: no scope belongs to this agent (its shard owns none, or its filters leave none); the chain stays at sequence 0\n"
	if code != exitOK || stdout != want {
		t.Errorf("exit %d, stdout %q; want %d, %q\nstderr %s", code, stdout, exitOK, want, stderr)
	}
}
