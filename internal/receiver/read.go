package receiver

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
	Size          int64  `json:"size"`
	Received      string `json:"received"`
	Chain         string `json:"chain"`
}

func bundleView(b store.Bundle) BundleView {
	return BundleView{Sequence: b.Sequence, PayloadDigest: b.PayloadDigest, Previous: b.Previous, KeyID: b.KeyID, RunID: b.RunID,
		RunStarted: tsJSON(b.RunStarted), RunFinished: tsJSON(b.RunFinished), Service: b.Service, Level: b.Level,
		Findings: b.Findings, Size: b.Size, Received: tsJSON(b.Received), Chain: b.Chain}
}

// maxPage bounds one page of a listing.
const maxPage = 1000

func (s *Server) listBundles(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
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
	list, err := s.store.Bundles(r.Context(), tenant, after, int(limit))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := struct {
		Tenant  string       `json:"tenant"`
		Bundles []BundleView `json:"bundles"`
		// NextAfter is the after= of the next page; 0 on the last one.
		NextAfter uint64 `json:"next_after"`
	}{Tenant: tenant, Bundles: []BundleView{}}
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

func (s *Server) getBundle(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	seq, ok := s.pathSeq(w, r)
	if !ok {
		return
	}
	data, err := s.store.Envelope(r.Context(), tenant, seq)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "tenant %s has no bundle %d", tenant, seq))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func (s *Server) getReceipt(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	seq, ok := s.pathSeq(w, r)
	if !ok {
		return
	}
	b, err := s.store.Bundle(r.Context(), tenant, seq)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, fail(http.StatusNotFound, protocol.CodeNotFound, "tenant %s has no bundle %d", tenant, seq))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Receipt)
}

// HistoryView is one point of a requirement's status history.
type HistoryView struct {
	Sequence      uint64 `json:"sequence"`
	RunFinished   string `json:"run_finished"`
	Status        string `json:"status"`
	Pass          int    `json:"pass"`
	Fail          int    `json:"fail"`
	NotApplicable int    `json:"not_applicable"`
	NotAssessed   int    `json:"not_assessed"`
}

func (s *Server) requirementHistory(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	req := r.PathValue("id")
	h, err := s.store.History(r.Context(), tenant, req)
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
		out.History = append(out.History, HistoryView{Sequence: e.Sequence, RunFinished: tsJSON(e.RunFinished), Status: e.Status,
			Pass: e.Pass, Fail: e.Fail, NotApplicable: e.NotApplicable, NotAssessed: e.NotAssessed})
	}
	writeJSON(w, http.StatusOK, out)
}

// ForkView is a recorded fork attempt.
type ForkView struct {
	Sequence      uint64 `json:"sequence"`
	StoredDigest  string `json:"stored_digest"`
	OfferedDigest string `json:"offered_digest"`
	KeyID         string `json:"key_id"`
	FirstSeen     string `json:"first_seen"`
	LastSeen      string `json:"last_seen"`
	Attempts      int    `json:"attempts"`
}

func (s *Server) gapsAndForks(r *http.Request, tenant string) ([]store.Gap, []ForkView, error) {
	gaps, err := s.store.Gaps(r.Context(), tenant)
	if err != nil {
		return nil, nil, err
	}
	forks, err := s.store.Forks(r.Context(), tenant)
	if err != nil {
		return nil, nil, err
	}
	fv := []ForkView{}
	for _, f := range forks {
		fv = append(fv, ForkView{Sequence: f.Sequence, StoredDigest: f.StoredDigest, OfferedDigest: f.OfferedDigest, KeyID: f.KeyID,
			FirstSeen: tsJSON(f.FirstSeen), LastSeen: tsJSON(f.LastSeen), Attempts: f.Attempts})
	}
	if gaps == nil {
		gaps = []store.Gap{}
	}
	return gaps, fv, nil
}

func (s *Server) listGaps(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	gaps, _, err := s.gapsAndForks(r, tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "gaps": gaps})
}

func (s *Server) listForks(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	_, forks, err := s.gapsAndForks(r, tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "forks": forks})
}

// exportChain streams a tenant's whole chain as a tar archive an auditor
// checks offline:
//
//	TENANT/bundle-<seq>.dsse.json           every stored bundle, byte for byte
//	TENANT/receipts/receipt-<seq>.dsse.json the receipt given for it
//	TENANT/keys/<key id>.pub                every key registered for the tenant
//	TENANT/chain.json                       index records, gaps and forks
//
// then: eucs-agent verify --key TENANT/keys/<id>.pub TENANT/bundle-*.dsse.json
func (s *Server) exportChain(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.readable(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	keys, err := s.store.Keys(ctx, tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	gaps, forks, err := s.gapsAndForks(r, tenant)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", tenant+"-chain.tar"))
	tw := tar.NewWriter(w)
	now := s.now()
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: tenant + "/" + name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	// Once the first byte is out, a failure can only be logged and the
	// archive cut short, which tar readers report as truncated.
	abort := func(err error) { s.log.Error("chain export cut short", "tenant", tenant, "error", err) }
	for _, k := range keys {
		if err := put("keys/"+k.KeyID+".pub", []byte(k.PublicKeyPEM)); err != nil {
			abort(err)
			return
		}
	}
	manifest := struct {
		Tenant   string       `json:"tenant"`
		Exported string       `json:"exported"`
		Bundles  []BundleView `json:"bundles"`
		Gaps     []store.Gap  `json:"gaps"`
		Forks    []ForkView   `json:"forks"`
		Keys     []KeyView    `json:"keys"`
	}{Tenant: tenant, Exported: tsJSON(now), Bundles: []BundleView{}, Gaps: gaps, Forks: forks, Keys: []KeyView{}}
	for _, k := range keys {
		manifest.Keys = append(manifest.Keys, KeyView{KeyID: k.KeyID, PublicKey: k.PublicKeyPEM, NotBefore: tsJSON(k.NotBefore), NotAfter: tsJSON(k.NotAfter), RevokedAt: tsJSON(k.RevokedAt)})
	}
	var after uint64
	for {
		page, err := s.store.Bundles(ctx, tenant, after, 500)
		if err != nil {
			abort(err)
			return
		}
		for _, b := range page {
			data, err := s.store.Envelope(ctx, tenant, b.Sequence)
			if err == nil {
				err = put(fmt.Sprintf("bundle-%012d.dsse.json", b.Sequence), data)
			}
			if err == nil {
				err = put(fmt.Sprintf("receipts/receipt-%012d.dsse.json", b.Sequence), b.Receipt)
			}
			if err != nil {
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
		err = put("chain.json", append(m, '\n'))
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		abort(err)
	}
}
