package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/receiver"
	"github.com/eucs-agent/eucs-agent/internal/receiver/pki"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// parseTime reads --not-before and friends: RFC 3339 or a date (UTC).
func parseTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time (2026-03-01T00:00:00Z) or a date (2026-03-01)", flagName, v)
}

// certMapping checks the client certificate flags: at most one of them,
// and the tenant's or auditor's name as the common name if neither.
func certMapping(name, cn, fp string, cnDefault bool) (string, string, error) {
	if cn != "" && fp != "" {
		return "", "", fmt.Errorf("give --client-cert-cn or --client-cert-fingerprint, not both")
	}
	if fp != "" {
		f, err := pki.NormalizeFingerprint(fp)
		if err != nil {
			return "", "", fmt.Errorf("--client-cert-fingerprint: %w", err)
		}
		return "", f, nil
	}
	if cn == "" {
		if !cnDefault {
			return "", "", fmt.Errorf("needs --client-cert-cn or --client-cert-fingerprint")
		}
		cn = name
	}
	return cn, "", nil
}

func cmdTenant(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "add":
		return tenantAdd(ctx, args, stdout, stderr)
	case "add-key":
		return tenantAddKey(ctx, args, stdout, stderr)
	case "revoke-key":
		return tenantRevokeKey(ctx, args, stdout, stderr)
	case "list":
		return tenantList(ctx, args, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "Usage: eucs-receiver tenant add|add-key|revoke-key|list [flags]")
		return exitOK
	}
	fmt.Fprintf(stderr, "tenant: unknown subcommand %q; want add, add-key, revoke-key or list\n", sub)
	return exitBadUsage
}

func oneName(what string, pos []string, stderr io.Writer) (string, bool) {
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "%s: needs exactly one NAME\n", what)
		return "", false
	}
	if err := receiver.CheckName(pos[0]); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", what, err)
		return "", false
	}
	return pos[0], true
}

func tenantAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tenant add", "tenant add NAME --key agent.pub [--client-cert-cn CN | --client-cert-fingerprint SHA256] [--not-before T] [--not-after T]", stdout, stderr)
	sf := addStoreFlags(fs)
	key := fs.String("key", "", "the agent's public key (PEM, from `eucs-agent keygen`)")
	cn := fs.String("client-cert-cn", "", "map client certificates with this common name to the tenant (default: NAME)")
	fp := fs.String("client-cert-fingerprint", "", "map the one client certificate with this SHA-256 fingerprint to the tenant")
	nb := fs.String("not-before", "", "the key is valid from (RFC 3339 or date; default now)")
	na := fs.String("not-after", "", "the key is valid until (default: until revoked)")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	name, ok := oneName("tenant add", pos, stderr)
	if !ok {
		return exitBadUsage
	}
	certCN, certFP, err := certMapping(name, *cn, *fp, true)
	if err != nil {
		fmt.Fprintf(stderr, "tenant add: %v\n", err)
		return exitBadUsage
	}
	k, code := keyFlags(name, "tenant add", *key, *nb, *na, stderr)
	if code != exitOK {
		return code
	}
	st, _, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer st.Close()
	if err := st.AddTenant(ctx, store.Tenant{Name: name, ClientCertCN: certCN, ClientCertFingerprint: certFP, Created: time.Now().UTC()}, k); err != nil {
		fmt.Fprintf(stderr, "tenant add: %v\n", err)
		return exitFailed
	}
	who := "client certificates with CN " + certCN
	if certFP != "" {
		who = "the client certificate with SHA-256 fingerprint " + certFP
	}
	fmt.Fprintf(stdout, "tenant %s added: %s, key %s %s\n", name, who, k.KeyID, validity(k))
	return exitOK
}

func keyFlags(tenant, what, path, nb, na string, stderr io.Writer) (store.Key, int) {
	if path == "" {
		fmt.Fprintf(stderr, "%s: needs --key agent.pub\n", what)
		return store.Key{}, exitBadUsage
	}
	notBefore, err1 := parseTime("--not-before", nb)
	notAfter, err2 := parseTime("--not-after", na)
	if err1 != nil || err2 != nil {
		for _, err := range []error{err1, err2} {
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", what, err)
			}
		}
		return store.Key{}, exitBadUsage
	}
	k, err := receiver.KeyFromFile(tenant, path, notBefore, notAfter, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", what, err)
		return store.Key{}, exitBadUsage
	}
	return k, exitOK
}

func validity(k store.Key) string {
	s := "valid from " + k.NotBefore.Format(time.RFC3339)
	if !k.NotAfter.IsZero() {
		s += " until " + k.NotAfter.Format(time.RFC3339)
	}
	if !k.RevokedAt.IsZero() {
		s += ", revoked at " + k.RevokedAt.Format(time.RFC3339)
	}
	return s
}

func tenantAddKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tenant add-key", "tenant add-key NAME --key new.pub [--not-before T] [--not-after T]", stdout, stderr)
	sf := addStoreFlags(fs)
	key := fs.String("key", "", "the new public key (PEM)")
	nb := fs.String("not-before", "", "valid from (RFC 3339 or date; default now)")
	na := fs.String("not-after", "", "valid until (default: until revoked)")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	name, ok := oneName("tenant add-key", pos, stderr)
	if !ok {
		return exitBadUsage
	}
	k, code := keyFlags(name, "tenant add-key", *key, *nb, *na, stderr)
	if code != exitOK {
		return code
	}
	st, _, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer st.Close()
	if err := st.AddKey(ctx, k); err != nil {
		fmt.Fprintf(stderr, "tenant add-key: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "key %s added to tenant %s, %s\n", k.KeyID, name, validity(k))
	return exitOK
}

func tenantRevokeKey(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tenant revoke-key", "tenant revoke-key NAME --key-id ID [--at T]", stdout, stderr)
	sf := addStoreFlags(fs)
	keyID := fs.String("key-id", "", "the key's id (see `tenant list`)")
	at := fs.String("at", "", "when the key stops being valid (RFC 3339 or date; default now)")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	name, ok := oneName("tenant revoke-key", pos, stderr)
	if !ok {
		return exitBadUsage
	}
	if *keyID == "" {
		fmt.Fprintln(stderr, "tenant revoke-key: needs --key-id")
		return exitBadUsage
	}
	when, err := parseTime("--at", *at)
	if err != nil {
		fmt.Fprintf(stderr, "tenant revoke-key: %v\n", err)
		return exitBadUsage
	}
	if when.IsZero() {
		when = time.Now().UTC()
	}
	st, _, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer st.Close()
	if err := st.RevokeKey(ctx, name, *keyID, when); err != nil {
		fmt.Fprintf(stderr, "tenant revoke-key: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "key %s of tenant %s revoked as of %s; bundles it signs are refused from then on\n", *keyID, name, when.Format(time.RFC3339))
	return exitOK
}

func tenantList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tenant list", "tenant list", stdout, stderr)
	sf := addStoreFlags(fs)
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	st, _, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer st.Close()
	ts, err := st.Tenants(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "tenant list: %v\n", err)
		return exitFailed
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCLIENT CERTIFICATE\tKEY ID\tVALIDITY")
	for _, t := range ts {
		keys, err := st.Keys(ctx, t.Name)
		if err != nil {
			fmt.Fprintf(stderr, "tenant list: %v\n", err)
			return exitFailed
		}
		who := "CN=" + t.ClientCertCN
		if t.ClientCertFingerprint != "" {
			who = "SHA256=" + t.ClientCertFingerprint[:16] + "…"
		}
		for i, k := range keys {
			n, w := t.Name, who
			if i > 0 {
				n, w = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, w, k.KeyID, validity(k))
		}
	}
	tw.Flush()
	return exitOK
}

func cmdAuditor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "add":
		fs := newFlags("auditor add", "auditor add NAME (--client-cert-cn CN | --client-cert-fingerprint SHA256)", stdout, stderr)
		sf := addStoreFlags(fs)
		cn := fs.String("client-cert-cn", "", "the auditor's client certificate common name")
		fp := fs.String("client-cert-fingerprint", "", "the auditor's client certificate SHA-256 fingerprint")
		pos, code, ok := parse(fs, args)
		if !ok {
			return code
		}
		name, ok := oneName("auditor add", pos, stderr)
		if !ok {
			return exitBadUsage
		}
		certCN, certFP, err := certMapping(name, *cn, *fp, false)
		if err != nil {
			fmt.Fprintf(stderr, "auditor add: %v\n", err)
			return exitBadUsage
		}
		st, _, err := sf.open(ctx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
		defer st.Close()
		if err := st.AddAuditor(ctx, store.Auditor{Name: name, ClientCertCN: certCN, ClientCertFingerprint: certFP, Created: time.Now().UTC()}); err != nil {
			fmt.Fprintf(stderr, "auditor add: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "auditor %s added; they may read every tenant's evidence\n", name)
		return exitOK
	case "list":
		fs := newFlags("auditor list", "auditor list", stdout, stderr)
		sf := addStoreFlags(fs)
		if _, code, ok := parse(fs, args); !ok {
			return code
		}
		st, _, err := sf.open(ctx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
		defer st.Close()
		as, err := st.Auditors(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "auditor list: %v\n", err)
			return exitFailed
		}
		for _, a := range as {
			who := "CN=" + a.ClientCertCN
			if a.ClientCertFingerprint != "" {
				who = "SHA256=" + a.ClientCertFingerprint
			}
			fmt.Fprintf(stdout, "%s\t%s\n", a.Name, who)
		}
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "Usage: eucs-receiver auditor add|list [flags]")
		return exitOK
	}
	fmt.Fprintf(stderr, "auditor: unknown subcommand %q; want add or list\n", sub)
	return exitBadUsage
}
