package receiver

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// The read API. Auditors read every tenant; a tenant's own agents read only
// that tenant (the provider can check what the CAB holds); nobody else
// reads anything.

// readable authorises a read of the tenant named in the path and returns
// its name.
func (s *Server) readable(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, aerr, err := s.identify(r)
	if err != nil {
		s.internal(w, r, err)
		return "", false
	}
	if aerr != nil {
		writeError(w, aerr)
		return "", false
	}
	tenant := r.PathValue("tenant")
	if id.Kind == store.KindTenant && id.Name != tenant {
		writeError(w, fail(http.StatusForbidden, protocol.CodeWrongTenant, "this client certificate belongs to tenant %s, not %s", id.Name, tenant))
		return "", false
	}
	if _, err := s.store.Tenant(r.Context(), tenant); errors.Is(err, store.ErrNotFound) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "no tenant %s", tenant))
		return "", false
	} else if err != nil {
		s.internal(w, r, err)
		return "", false
	}
	return tenant, true
}

// readableChain is readable, then the chain a request is about, from
// ?chain=: empty is the unsharded agent's chain; absent is that chain too,
// or every chain (store.AllChains) for the views that span them unless
// told otherwise (acrossChains). A malformed chain id is a 400.
func (s *Server) readableChain(w http.ResponseWriter, r *http.Request, acrossChains bool) (tenant, chain string, ok bool) {
	tenant, ok = s.readable(w, r)
	if !ok {
		return "", "", false
	}
	q := r.URL.Query()
	chain = q.Get("chain")
	if err := bundle.ValidateChainID(chain); err != nil {
		writeError(w, fail(http.StatusBadRequest, protocol.CodeBadRequest, "chain=%q is not a chain id (1 to 63 lowercase letters, digits or '-', not starting with '-')", chain))
		return "", "", false
	}
	if acrossChains && !q.Has("chain") {
		chain = store.AllChains
	}
	return tenant, chain, true
}

func tsJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// KeyView is a tenant key as the API shows it.
type KeyView struct {
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
}

// TenantView is a tenant as the API shows it.
type TenantView struct {
	Name                  string    `json:"name"`
	ClientCertCN          string    `json:"client_cert_cn,omitempty"`
	ClientCertFingerprint string    `json:"client_cert_fingerprint,omitempty"`
	Created               string    `json:"created"`
	Keys                  []KeyView `json:"keys"`
}

func (s *Server) tenantView(r *http.Request, t store.Tenant) (TenantView, error) {
	keys, err := s.store.Keys(r.Context(), t.Name)
	if err != nil {
		return TenantView{}, err
	}
	v := TenantView{Name: t.Name, ClientCertCN: t.ClientCertCN, ClientCertFingerprint: t.ClientCertFingerprint, Created: tsJSON(t.Created), Keys: []KeyView{}}
	for _, k := range keys {
		v.Keys = append(v.Keys, KeyView{KeyID: k.KeyID, PublicKey: k.PublicKeyPEM, NotBefore: tsJSON(k.NotBefore), NotAfter: tsJSON(k.NotAfter), RevokedAt: tsJSON(k.RevokedAt)})
	}
	return v, nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	id, aerr, err := s.identify(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	all, err := s.store.Tenants(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := []TenantView{}
	for _, t := range all {
		if id.Kind == store.KindTenant && t.Name != id.Name {
			continue
		}
		v, err := s.tenantView(r, t)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	t, err := s.store.Tenant(r.Context(), tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v, err := s.tenantView(r, t)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// BundleView is a stored bundle's index record as the API shows it.
type BundleView struct {
	ChainID       string `json:"chain_id,omitempty"`
	Sequence      uint64 `json:"sequence"`
	PayloadDigest string `json:"payload_digest"`
	Previous      string `json:"previous"`
	KeyID         string `json:"key_id"`
	RunID         string `json:"run_id"`
	RunStarted    string `json:"run_started"`
	RunFinished   string `json:"run_finished"`
	Service       string `json:"service"`
	Level         string `json:"level"`
	Findings      int    `json:"findings"`
	// Parts is how many parts a split run has (the bundle is then its
	// manifest); omitted for a single bundle.
	Parts    int    `json:"parts,omitempty"`
	Size     int64  `json:"size"`
	Received string `json:"received"`
	Chain    string `json:"chain"`
}

func bundleView(b store.Bundle) BundleView {
	return BundleView{ChainID: b.ChainID, Parts: b.Parts, Sequence: b.Sequence, PayloadDigest: b.PayloadDigest, Previous: b.Previous, KeyID: b.KeyID, RunID: b.RunID,
		RunStarted: tsJSON(b.RunStarted), RunFinished: tsJSON(b.RunFinished), Service: b.Service, Level: b.Level,
		Findings: b.Findings, Size: b.Size, Received: tsJSON(b.Received), Chain: b.Chain}
}

// maxPage bounds one page of a listing.
const maxPage = 1000

func (s *Server) listBundles(w http.ResponseWriter, r *http.Request) {
	tenant, chain, ok := s.readableChain(w, r, false)
	if !ok {
		return
	}
	after, err1 := queryUint(r, "after", 0)
	limit, err2 := queryUint(r, "limit", 100)
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, fail(http.StatusBadRequest, protocol.CodeBadRequest, "%v", err))
		return
	}
	limit = min(max(limit, 1), maxPage)
	list, err := s.store.Bundles(r.Context(), tenant, chain, after, int(limit))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := struct {
		Tenant  string       `json:"tenant"`
		ChainID string       `json:"chain_id,omitempty"`
		Bundles []BundleView `json:"bundles"`
		// NextAfter is the after= of the next page; 0 on the last one.
		NextAfter uint64 `json:"next_after"`
	}{Tenant: tenant, ChainID: chain, Bundles: []BundleView{}}
	for _, b := range list {
		out.Bundles = append(out.Bundles, bundleView(b))
	}
	if len(list) == int(limit) {
		out.NextAfter = list[len(list)-1].Sequence
	}
	writeJSON(w, http.StatusOK, out)
}

func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a whole number", name, v)
	}
	return n, nil
}

func (s *Server) pathSeq(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 63)
	if err != nil || seq == 0 {
		writeError(w, fail(http.StatusBadRequest, protocol.CodeBadRequest, "%q is not a sequence number", r.PathValue("seq")))
		return 0, false
	}
	return seq, true
}

// oneBundle reads the tenant, chain and sequence a bundle's path names and
// its index record, answering the request itself if it cannot.
func (s *Server) oneBundle(w http.ResponseWriter, r *http.Request) (store.Bundle, bool) {
	tenant, chain, ok := s.readableChain(w, r, false)
	if !ok {
		return store.Bundle{}, false
	}
	seq, ok := s.pathSeq(w, r)
	if !ok {
		return store.Bundle{}, false
	}
	b, err := s.store.Bundle(r.Context(), tenant, chain, seq)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "%s has no bundle %d", ofTenant(tenant, chain), seq))
		return store.Bundle{}, false
	}
	if err != nil {
		s.internal(w, r, err)
		return store.Bundle{}, false
	}
	return b, true
}

func (s *Server) getBundle(w http.ResponseWriter, r *http.Request) {
	b, ok := s.oneBundle(w, r)
	if !ok {
		return
	}
	data, err := s.store.Envelope(r.Context(), b.Tenant, b.ChainID, b.Sequence)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func (s *Server) getReceipt(w http.ResponseWriter, r *http.Request) {
	b, ok := s.oneBundle(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Receipt)
}

// PartView is one part of a stored split run.
type PartView struct {
	Index         int    `json:"index"`
	PayloadDigest string `json:"payload_digest"`
	Size          int64  `json:"size"`
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request) {
	b, ok := s.oneBundle(w, r)
	if !ok {
		return
	}
	parts, err := s.store.Parts(r.Context(), b.Tenant, b.ChainID, b.Sequence)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := struct {
		Tenant   string     `json:"tenant"`
		ChainID  string     `json:"chain_id,omitempty"`
		Sequence uint64     `json:"sequence"`
		Parts    []PartView `json:"parts"`
	}{Tenant: b.Tenant, ChainID: b.ChainID, Sequence: b.Sequence, Parts: []PartView{}}
	for _, p := range parts {
		out.Parts = append(out.Parts, PartView{Index: p.Index, PayloadDigest: p.PayloadDigest, Size: p.Size})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getPart(w http.ResponseWriter, r *http.Request) {
	b, ok := s.oneBundle(w, r)
	if !ok {
		return
	}
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || index < 1 {
		writeError(w, fail(http.StatusBadRequest, protocol.CodeBadRequest, "%q is not a part number", r.PathValue("index")))
		return
	}
	parts, err := s.store.Parts(r.Context(), b.Tenant, b.ChainID, b.Sequence)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if index > len(parts) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "bundle %d of %s has %s", b.Sequence, ofTenant(b.Tenant, b.ChainID), partCount(len(parts))))
		return
	}
	data, err := s.store.PartEnvelope(r.Context(), b.Tenant, parts[index-1].PayloadDigest)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func partCount(n int) string {
	switch n {
	case 0:
		return "no parts (it is a single bundle)"
	case 1:
		return "1 part"
	}
	return fmt.Sprintf("%d parts", n)
}

// ChainView is one chain of a tenant.
type ChainView struct {
	ChainID      string `json:"chain_id"`
	Bundles      int    `json:"bundles"`
	First        uint64 `json:"first"`
	Last         uint64 `json:"last"`
	LastReceived string `json:"last_received"`
	Gaps         int    `json:"gaps"`
	Forks        int    `json:"forks"`
}

func (s *Server) listChains(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	chains, err := s.store.Chains(r.Context(), tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := []ChainView{}
	for _, c := range chains {
		gaps, forks, err := s.gapsAndForks(r, tenant, c.ChainID)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out = append(out, ChainView{ChainID: c.ChainID, Bundles: c.Bundles, First: c.First, Last: c.Last,
			LastReceived: tsJSON(c.LastReceived), Gaps: len(gaps), Forks: len(forks)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "chains": out})
}

// HistoryView is one point of a requirement's status history.
type HistoryView struct {
	ChainID       string `json:"chain_id,omitempty"`
	Sequence      uint64 `json:"sequence"`
	RunFinished   string `json:"run_finished"`
	Status        string `json:"status"`
	Pass          int    `json:"pass"`
	Fail          int    `json:"fail"`
	NotApplicable int    `json:"not_applicable"`
	NotAssessed   int    `json:"not_assessed"`
}

func (s *Server) requirementHistory(w http.ResponseWriter, r *http.Request) {
	tenant, chain, ok := s.readableChain(w, r, true)
	if !ok {
		return
	}
	req := r.PathValue("id")
	h, err := s.store.History(r.Context(), tenant, chain, req)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := struct {
		Tenant      string        `json:"tenant"`
		Requirement string        `json:"requirement"`
		History     []HistoryView `json:"history"`
	}{Tenant: tenant, Requirement: req, History: []HistoryView{}}
	for _, e := range h {
		out.History = append(out.History, HistoryView{ChainID: e.ChainID, Sequence: e.Sequence, RunFinished: tsJSON(e.RunFinished), Status: e.Status,
			Pass: e.Pass, Fail: e.Fail, NotApplicable: e.NotApplicable, NotAssessed: e.NotAssessed})
	}
	writeJSON(w, http.StatusOK, out)
}

// ForkView is a recorded fork attempt.
type ForkView struct {
	ChainID       string `json:"chain_id,omitempty"`
	Sequence      uint64 `json:"sequence"`
	StoredDigest  string `json:"stored_digest"`
	OfferedDigest string `json:"offered_digest"`
	KeyID         string `json:"key_id"`
	FirstSeen     string `json:"first_seen"`
	LastSeen      string `json:"last_seen"`
	Attempts      int    `json:"attempts"`
}

// gapsAndForks lists a chain's gaps and forks; with AllChains, every
// chain's forks and no gaps (gaps exist only within a chain).
func (s *Server) gapsAndForks(r *http.Request, tenant, chain string) ([]store.Gap, []ForkView, error) {
	var gaps []store.Gap
	if chain != store.AllChains {
		var err error
		if gaps, err = s.store.Gaps(r.Context(), tenant, chain); err != nil {
			return nil, nil, err
		}
	}
	forks, err := s.store.Forks(r.Context(), tenant, chain)
	if err != nil {
		return nil, nil, err
	}
	fv := []ForkView{}
	for _, f := range forks {
		fv = append(fv, ForkView{ChainID: f.ChainID, Sequence: f.Sequence, StoredDigest: f.StoredDigest, OfferedDigest: f.OfferedDigest, KeyID: f.KeyID,
			FirstSeen: tsJSON(f.FirstSeen), LastSeen: tsJSON(f.LastSeen), Attempts: f.Attempts})
	}
	if gaps == nil {
		gaps = []store.Gap{}
	}
	return gaps, fv, nil
}

func (s *Server) listGaps(w http.ResponseWriter, r *http.Request) {
	tenant, chain, ok := s.readableChain(w, r, false)
	if !ok {
		return
	}
	gaps, _, err := s.gapsAndForks(r, tenant, chain)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := map[string]any{"tenant": tenant, "gaps": gaps}
	if chain != "" {
		out["chain_id"] = chain
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listForks(w http.ResponseWriter, r *http.Request) {
	tenant, chain, ok := s.readableChain(w, r, true)
	if !ok {
		return
	}
	_, forks, err := s.gapsAndForks(r, tenant, chain)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := map[string]any{"tenant": tenant, "forks": forks}
	if chain != "" && chain != store.AllChains {
		out["chain_id"] = chain
	}
	writeJSON(w, http.StatusOK, out)
}

// exportChain streams one chain of a tenant (?chain=, absent for the
// unsharded agent's) as a tar archive an auditor checks offline. For the
// unsharded chain, DIR is TENANT; for chain ID, TENANT/chains/ID:
//
//	DIR/bundle-<seq>.dsse.json                every stored bundle or manifest, byte for byte
//	DIR/bundle-<seq>.part-<index>.dsse.json   every part of a split run, byte for byte
//	DIR/receipts/receipt-<seq>.dsse.json      the receipt given for each
//	DIR/chain.json                            index records, gaps and forks
//	TENANT/keys/<key id>.pub                  every key registered for the tenant
//
// then: eucs-agent verify --key TENANT/keys/<id>.pub DIR/*.dsse.json
//
// The names are the agent's evidence directory's. Envelopes are read one
// at a time, so the archive of a chain of any size streams in flat memory.
func (s *Server) exportChain(w http.ResponseWriter, r *http.Request) {
	tenant, chain, ok := s.readableChain(w, r, false)
	if !ok {
		return
	}
	ctx := r.Context()
	keys, err := s.store.Keys(ctx, tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	gaps, forks, err := s.gapsAndForks(r, tenant, chain)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	dir, file := tenant, tenant+"-chain.tar"
	if chain != "" {
		dir, file = tenant+"/chains/"+chain, tenant+"-"+chain+"-chain.tar"
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", file))
	tw := tar.NewWriter(w)
	now := s.now()
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	// Once the first byte is out, a failure can only be logged and the
	// archive cut short, which tar readers report as truncated.
	abort := func(err error) {
		s.log.Error("chain export cut short", "tenant", tenant, "chain_id", chain, "error", err)
	}
	for _, k := range keys {
		if err := put(tenant+"/keys/"+k.KeyID+".pub", []byte(k.PublicKeyPEM)); err != nil {
			abort(err)
			return
		}
	}
	manifest := struct {
		Tenant   string       `json:"tenant"`
		ChainID  string       `json:"chain_id,omitempty"`
		Exported string       `json:"exported"`
		Bundles  []BundleView `json:"bundles"`
		Gaps     []store.Gap  `json:"gaps"`
		Forks    []ForkView   `json:"forks"`
		Keys     []KeyView    `json:"keys"`
	}{Tenant: tenant, ChainID: chain, Exported: tsJSON(now), Bundles: []BundleView{}, Gaps: gaps, Forks: forks, Keys: []KeyView{}}
	for _, k := range keys {
		manifest.Keys = append(manifest.Keys, KeyView{KeyID: k.KeyID, PublicKey: k.PublicKeyPEM, NotBefore: tsJSON(k.NotBefore), NotAfter: tsJSON(k.NotAfter), RevokedAt: tsJSON(k.RevokedAt)})
	}
	var after uint64
	for {
		page, err := s.store.Bundles(ctx, tenant, chain, after, 500)
		if err != nil {
			abort(err)
			return
		}
		for _, b := range page {
			if err := s.exportBundle(r, dir, b, put); err != nil {
				abort(err)
				return
			}
			manifest.Bundles = append(manifest.Bundles, bundleView(b))
			after = b.Sequence
		}
		if len(page) < 500 {
			break
		}
	}
	m, err := json.MarshalIndent(manifest, "", "  ")
	if err == nil {
		err = put(dir+"/chain.json", append(m, '\n'))
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		abort(err)
	}
}

// exportBundle writes one stored bundle, its parts and its receipt into
// the archive under dir.
func (s *Server) exportBundle(r *http.Request, dir string, b store.Bundle, put func(string, []byte) error) error {
	ctx := r.Context()
	data, err := s.store.Envelope(ctx, b.Tenant, b.ChainID, b.Sequence)
	if err != nil {
		return err
	}
	if err := put(fmt.Sprintf("%s/bundle-%012d.dsse.json", dir, b.Sequence), data); err != nil {
		return err
	}
	if b.Parts > 0 {
		parts, err := s.store.Parts(ctx, b.Tenant, b.ChainID, b.Sequence)
		if err != nil {
			return err
		}
		for _, p := range parts {
			data, err := s.store.PartEnvelope(ctx, b.Tenant, p.PayloadDigest)
			if err != nil {
				return err
			}
			if err := put(fmt.Sprintf("%s/bundle-%012d.part-%06d.dsse.json", dir, b.Sequence, p.Index), data); err != nil {
				return err
			}
		}
	}
	return put(fmt.Sprintf("%s/receipts/receipt-%012d.dsse.json", dir, b.Sequence), b.Receipt)
}
