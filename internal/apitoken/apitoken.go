package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/strictyaml"
)

// Prefix starts every token, so a token found in a log or a paste is
// recognisable (and secret scanners can match it).
const Prefix = "bput_"

// APIVersion and Kind identify the token file.
const (
	APIVersion = apiversion.V1
	Kind       = "APIToken"
)

// tokenBytes is the token's entropy: 256 bits, beyond any guessing.
const tokenBytes = 32

// maxFileSize bounds what is read of a token file.
const maxFileSize = 4 << 10

var (
	// ErrExists is returned by Create when a token file exists already.
	ErrExists = errors.New("an API token exists already")
	// ErrNoToken means no token was created yet (the file is missing):
	// every request is refused until one is.
	ErrNoToken = errors.New("no API token has been created")
	// ErrMismatch means the presented token is not the stored one.
	ErrMismatch = errors.New("the API token does not match")
)

// file is the token file's content.
type file struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	SHA256     string    `json:"sha256"`
	CreatedAt  time.Time `json:"createdAt"`
}

// Create makes a new token and stores its hash at path, which must not
// exist: it refuses with ErrExists ("use token rotate") rather than
// silently lock out whoever holds the current token. The folder must
// exist. It returns the token, which is not stored anywhere.
func Create(path string) (string, error) {
	token, data, err := newToken()
	if err != nil {
		return "", err
	}
	if err := atomicfile.CreateFile(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("cannot create an API token: %w in %s; use `better-paas-updater token rotate` to replace it", ErrExists, path)
		}
		return "", fmt.Errorf("cannot create an API token: %w", err)
	}
	return token, nil
}

// Rotate makes a new token and replaces the hash at path with its hash
// (creating the file when there is none), atomically. From then on the
// old token is refused, also by a running daemon's Verifier. It returns
// the new token.
func Rotate(path string) (string, error) {
	token, data, err := newToken()
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("cannot rotate the API token: %w", err)
	}
	return token, nil
}

// newToken returns a fresh token and the token file that stores its hash.
func newToken() (token string, data []byte, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("cannot make an API token: %w", err)
	}
	token = Prefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	data, err = yaml.Marshal(file{APIVersion: APIVersion, Kind: Kind, SHA256: hex.EncodeToString(sum[:]), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return "", nil, fmt.Errorf("cannot encode the API token file: %w", err)
	}
	return token, data, nil
}

// readHash reads and checks the token file at path.
func readHash(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sum, fmt.Errorf("%w: %s is missing; run `better-paas-updater token create`", ErrNoToken, path)
	}
	if err != nil {
		return sum, fmt.Errorf("cannot read the API token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return sum, fmt.Errorf("cannot read the API token file %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return sum, fmt.Errorf("cannot read the API token file %s: larger than %d bytes; run `better-paas-updater token rotate`", path, maxFileSize)
	}
	var tf file
	if err := strictyaml.Unmarshal(data, &tf, 4*maxFileSize); err != nil {
		return sum, fmt.Errorf("cannot read the API token file %s: %w; run `better-paas-updater token rotate`", path, err)
	}
	h, err := hex.DecodeString(tf.SHA256)
	if tf.APIVersion != APIVersion || tf.Kind != Kind || err != nil || len(h) != sha256.Size {
		return sum, fmt.Errorf("cannot read the API token file %s: not an %s/%s with a sha256 of 64 hex digits; run `better-paas-updater token rotate`", path, APIVersion, Kind)
	}
	copy(sum[:], h)
	return sum, nil
}

// Verifier checks presented tokens against the hash stored at one path.
// It reads the file again whenever it changed (another inode, size or
// modification time), so `token rotate` takes effect at the next request,
// without a restart. It is safe for concurrent use.
type Verifier struct {
	path string

	mu   sync.Mutex
	seen os.FileInfo // the file the hash was read from; nil before the first read
	hash [sha256.Size]byte
	err  error // why the file last read is unusable
}

// NewVerifier returns a Verifier of the token file at path. It reads
// nothing yet: a daemon starts without a token and picks up the one
// `token create` makes later.
func NewVerifier(path string) *Verifier { return &Verifier{path: path} }

// Path is the token file the Verifier reads.
func (v *Verifier) Path() string { return v.path }

// Verify reports whether token is the stored one: nil when it is;
// ErrMismatch when it is not (an empty token included); ErrNoToken when no
// token was created; another error when the file cannot be read or
// parsed, in which case every token is refused. The comparison of the
// hashes takes the same time wherever they differ.
func (v *Verifier) Verify(token string) error {
	want, err := v.current()
	if err != nil {
		return err
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrMismatch
	}
	return nil
}

// current returns the stored hash, reading the file again when it changed.
func (v *Verifier) current() ([sha256.Size]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fi, err := os.Stat(v.path)
	if err != nil {
		v.seen = nil
		if errors.Is(err, fs.ErrNotExist) {
			return [sha256.Size]byte{}, fmt.Errorf("%w: %s is missing; run `better-paas-updater token create`", ErrNoToken, v.path)
		}
		return [sha256.Size]byte{}, fmt.Errorf("cannot read the API token file: %w", err)
	}
	if v.seen == nil || !sameVersion(v.seen, fi) {
		v.hash, v.err = readHash(v.path)
		v.seen = fi
	}
	return v.hash, v.err
}

// sameVersion reports whether a and b describe the same version of a
// file: the same inode (a rotation renames a new file into place), size
// and modification time.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
