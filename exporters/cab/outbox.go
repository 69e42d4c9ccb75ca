package cab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/eucs-agent/eucs-agent/internal/atomicfile"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/protocol"
)

// The outbox is a directory, and the directory is its only state, so that
// a crash at any instant leaves something a restart understands:
//
//	pending/bundle-<seq>.dsse.json   waiting for the receiver, written atomically
//	                                 (a split run's manifest: its parts are read
//	                                 from the evidence directory, not copied)
//	rejected/bundle-<seq>.dsse.json  refused by the receiver for good (with .error beside it)
//	corrupt/bundle-<seq>.dsse.json   unreadable; the evidence directory still has the original
//	cursor.json                      the highest sequence handed over (acknowledged or set aside)
//	deliver.lock                     held by the one process delivering
//
// A bundle leaves pending/ only after its receipt and the cursor are on
// disk. A crash before that resends it, and the receiver answers a resend of
// a bundle it holds with the original receipt, so nothing is lost and the
// receiver never stores anything twice.
const (
	pendingDir  = "pending"
	rejectedDir = "rejected"
	corruptDir  = "corrupt"
	cursorFile  = "cursor.json"
	lockFile    = "deliver.lock"
)

// outbox is the on-disk queue.
type outbox struct {
	dir        string
	maxBundles int
	maxBytes   int64
}

// item is one pending bundle as listed; its contents are read only when it
// is delivered.
type item struct {
	seq  uint64
	path string
	size int64
}

// openOutbox creates the outbox's directories and removes what an
// interrupted atomic write left behind: temporary files never renamed into
// place are not bundles.
func openOutbox(dir string, maxBundles int, maxBytes int64) (*outbox, []string, error) {
	o := &outbox{dir: dir, maxBundles: maxBundles, maxBytes: maxBytes}
	for _, d := range []string{pendingDir, rejectedDir, corruptDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, nil, fmt.Errorf("create outbox: %w", err)
		}
	}
	var removed []string
	for _, d := range []string{dir, filepath.Join(dir, pendingDir)} {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, nil, fmt.Errorf("open outbox: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
				p := filepath.Join(d, e.Name())
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, nil, fmt.Errorf("open outbox: remove leftover %s: %w", p, err)
				}
				removed = append(removed, p)
			}
		}
	}
	return o, removed, nil
}

func (o *outbox) pendingPath(seq uint64) string {
	return filepath.Join(o.dir, pendingDir, evidenceName(seq))
}

// parseName returns the sequence of a bundle file name, in the evidence
// directory's naming (evidenceName).
func parseName(name string) (uint64, bool) {
	var seq uint64
	if _, err := fmt.Sscanf(name, "bundle-%012d.dsse.json", &seq); err != nil || evidenceName(seq) != name {
		return 0, false
	}
	return seq, true
}

// list returns the pending bundles in chain order.
func (o *outbox) list() ([]item, error) {
	d := filepath.Join(o.dir, pendingDir)
	entries, err := os.ReadDir(d)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	var items []item
	for _, e := range entries {
		seq, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // delivered meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list outbox: %w", err)
		}
		items = append(items, item{seq: seq, path: filepath.Join(d, e.Name()), size: info.Size()})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	return items, nil
}

// usage sums the pending bundles.
func usage(items []item) (n int, size int64) {
	for _, it := range items {
		size += it.size
	}
	return len(items), size
}

// fits reports whether a bundle of size bytes may join items. A bundle
// larger than the whole byte limit is let into an empty outbox, since it
// could never be delivered otherwise.
func (o *outbox) fits(items []item, size int64) bool {
	n, total := usage(items)
	if n == 0 {
		return true
	}
	return n+1 <= o.maxBundles && total+size <= o.maxBytes
}

// cursor is the highest sequence handed over to the receiver. It reuses the
// chain state's file format and its atomic, validated load and save.
func (o *outbox) cursor() (bundle.State, error) {
	s, err := bundle.LoadState(filepath.Join(o.dir, cursorFile))
	if err != nil {
		return bundle.State{}, fmt.Errorf("outbox cursor: %w", err)
	}
	return s, nil
}

func (o *outbox) advance(seq uint64, digest string) error {
	cur, err := o.cursor()
	if err != nil {
		return err
	}
	if seq <= cur.Sequence {
		return nil
	}
	if err := bundle.SaveState(filepath.Join(o.dir, cursorFile), bundle.State{Sequence: seq, Digest: digest}); err != nil {
		return fmt.Errorf("outbox cursor: %w", err)
	}
	return nil
}

// put writes a bundle into pending/ atomically (temporary file, fsync,
// rename, directory fsync).
func (o *outbox) put(seq uint64, envelope []byte) error {
	if err := atomicfile.Write(o.pendingPath(seq), envelope, 0o640); err != nil {
		return fmt.Errorf("queue bundle %d: %w", seq, err)
	}
	return nil
}

// remove takes a delivered bundle out of pending/.
func (o *outbox) remove(it item) error {
	if err := os.Remove(it.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove delivered bundle %d from the outbox: %w", it.seq, err)
	}
	return atomicfile.SyncDir(filepath.Dir(it.path))
}

// moveAside moves a bundle out of pending/ into rejected/ or corrupt/, with
// the reason in a .error file beside it for the operator.
func (o *outbox) moveAside(it item, sub, reason string) (string, error) {
	dst := filepath.Join(o.dir, sub, filepath.Base(it.path))
	if err := atomicfile.Write(dst+".error", []byte(reason+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("set bundle %d aside: %w", it.seq, err)
	}
	if err := os.Rename(it.path, dst); err != nil {
		return "", fmt.Errorf("set bundle %d aside: %w", it.seq, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dst)); err != nil {
		return "", err
	}
	return dst, atomicfile.SyncDir(filepath.Dir(it.path))
}

// lock takes the delivery lock without waiting; ok is false if another
// process holds it.
func (o *outbox) lock() (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(o.dir, lockFile), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, false, fmt.Errorf("lock outbox: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock outbox: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, true, nil
}

// parsed is a bundle read back from disk.
type parsed struct {
	seq    uint64
	digest string
	// chain is the chain id ("" for an unsharded agent's bundles).
	chain string
	// parts are a manifest's part digests in part order; nil for a bundle.
	parts []string
}

// parseBundle reads what the outbox needs from an envelope: the payload
// digest, the sequence the signed payload claims, and for a split run's
// manifest the payload digests of its parts. It does not check the
// signature; the receiver does, and the agent signed it.
func parseBundle(data []byte) (parsed, error) {
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		return parsed{}, err
	}
	digest, payload, err := protocol.PayloadDigest(env)
	if err != nil {
		return parsed{}, err
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Digest struct {
				SHA256 string `json:"sha256"`
			} `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Chain *struct {
				ID       string `json:"id"`
				Sequence uint64 `json:"sequence"`
			} `json:"chain"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return parsed{}, fmt.Errorf("payload is not JSON: %w", err)
	}
	if st.Predicate.Chain == nil || st.Predicate.Chain.Sequence == 0 {
		return parsed{}, errors.New("payload has no predicate.chain.sequence")
	}
	p := parsed{seq: st.Predicate.Chain.Sequence, digest: digest, chain: st.Predicate.Chain.ID}
	if st.PredicateType == bundle.ManifestPredicateType {
		if len(st.Subject) == 0 {
			return parsed{}, errors.New("manifest names no parts")
		}
		for i, s := range st.Subject {
			if s.Digest.SHA256 == "" {
				return parsed{}, fmt.Errorf("manifest subject %d has no sha256 digest", i+1)
			}
			p.parts = append(p.parts, s.Digest.SHA256)
		}
	}
	return p, nil
}

// sameFile reports whether path holds exactly data.
func sameFile(path string, data []byte) (bool, error) {
	got, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, data), nil
}
