package signedsums

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
)

// The file names a release publishes its checksum list and signature as.
const (
	SumsName = "SHA256SUMS"
	SigName  = "SHA256SUMS.minisig"
)

// MaxSize caps SHA256SUMS for Parse (and, by convention, the download of
// SHA256SUMS and SHA256SUMS.minisig): a real list is a few kilobytes.
const MaxSize = 1 << 20

// UntrustedComment is the (unsigned, ignored) first line Sign writes.
const UntrustedComment = "signature from better-paas-updater release"

// NamePattern is what an asset name must match: a plain file name of at most
// 128 characters starting with a letter or digit. ValidName also refuses "."
// and ".." (which the pattern cannot match anyway: they start with a dot).
var NamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ValidName reports whether name may name a release asset: it matches
// NamePattern and is neither "." nor "..", so it can only ever name a file
// directly inside the folder it is downloaded or looked up in.
func ValidName(name string) bool {
	return name != "." && name != ".." && NamePattern.MatchString(name)
}

// ErrUntrusted is wrapped by every refusal of this package: a malformed
// SHA256SUMS, a missing, malformed or bad signature, a signature by another
// key or for another version. Files refused with it must not be used;
// fetching them again will not help.
var ErrUntrusted = errors.New("untrusted release files")

// untrustedError is a refusal: its message says what is wrong and how to fix
// it, and errors.Is(err, ErrUntrusted) holds without repeating ErrUntrusted's
// text in the message.
type untrustedError struct{ msg string }

func (e *untrustedError) Error() string { return e.msg }
func (e *untrustedError) Unwrap() error { return ErrUntrusted }

func untrusted(format string, args ...any) error {
	return &untrustedError{msg: fmt.Sprintf(format, args...)}
}

// ParsePublicKey reads a minisign public key given as its base64 line
// ("RW...") or as the whole text of a minisign .pub file (an "untrusted
// comment:" line, then the base64 line). Surrounding white space and CRLF
// line ends are allowed.
func ParsePublicKey(text string) (minisign.PublicKey, error) {
	var lines []string
	for l := range strings.Lines(text) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 2 && strings.HasPrefix(lines[0], "untrusted comment:") {
		lines = lines[1:]
	}
	var key minisign.PublicKey
	if len(lines) != 1 {
		return key, errors.New("cannot parse minisign public key: want the base64 key line (RW...) or the text of a minisign .pub file, got " +
			strconv.Itoa(len(lines)) + " non-empty lines")
	}
	if err := key.UnmarshalText([]byte(lines[0])); err != nil {
		return key, fmt.Errorf("cannot parse minisign public key %q: %w (want the base64 line of a .pub file, as minisign -G or `go run ./scripts/release -keygen` writes)", short(lines[0]), err)
	}
	return key, nil
}

// TrustedComment is the trusted comment Sign embeds for version, signed at
// t: "timestamp:<unix seconds>\tfile:SHA256SUMS\tversion:<version>".
func TrustedComment(version string, t time.Time) string {
	return "timestamp:" + strconv.FormatInt(t.Unix(), 10) + "\tfile:" + SumsName + "\tversion:" + version
}

// Sign returns the text of SHA256SUMS.minisig for sums, the SHA256SUMS bytes
// of version, signed with key at t (the release commit's time, so that the
// result is reproducible). The signature is minisign's plain Ed25519 one
// (algorithm "Ed"). version must be non-empty and free of tabs and line
// breaks, as a release tag is; Sign panics otherwise, since the trusted
// comment could not carry it.
func Sign(key minisign.PrivateKey, sums []byte, version string, t time.Time) []byte {
	if version == "" || strings.ContainsAny(version, "\t\r\n") {
		panic(fmt.Sprintf("signedsums.Sign: version %q cannot go into a trusted comment", version))
	}
	return minisign.SignWithComments(key, sums, TrustedComment(version, t), UntrustedComment)
}

// Verify checks that sig (the SHA256SUMS.minisig text) is key's signature of
// sums (the SHA256SUMS bytes), trusted comment included, and that the trusted
// comment names version in a "version:" field. Every failure wraps
// ErrUntrusted: an empty or malformed signature, a signature by another key,
// bytes that do not match (tampered), or a list signed for another version.
func Verify(key minisign.PublicKey, sums, sig []byte, version string) error {
	if len(bytes.TrimSpace(sig)) == 0 {
		return untrusted("%s is empty or missing: the release must publish a minisign signature of %s", SigName, SumsName)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return untrusted("cannot parse %s: %v", SigName, err)
	}
	if s.KeyID != key.ID() {
		return untrusted("%s was made by key %016X, not by the trusted key %016X: check the configured publicKey", SigName, s.KeyID, key.ID())
	}
	if !minisign.Verify(key, sums, sig) {
		return untrusted("%s does not verify %s with the trusted key %016X: one of them was modified", SigName, SumsName, key.ID())
	}
	signed, ok := commentField(s.TrustedComment, "version")
	switch {
	case !ok:
		return untrusted("the trusted comment of %s (%q) has no version: field, so it cannot prove %s belongs to %s", SigName, s.TrustedComment, SumsName, version)
	case signed != version:
		return untrusted("%s is signed for version %s, not %s: another release's checksums", SumsName, signed, version)
	}
	return nil
}

// commentField returns the value of the first "<name>:<value>" field of a
// tab-separated trusted comment.
func commentField(comment, name string) (string, bool) {
	for f := range strings.SplitSeq(comment, "\t") {
		if v, ok := strings.CutPrefix(f, name+":"); ok {
			return v, true
		}
	}
	return "", false
}

// Sums is a parsed SHA256SUMS: asset name -> lowercase hex SHA-256.
type Sums map[string]string

// Sum returns the lowercase hex SHA-256 of data, as SHA256SUMS lists it.
func Sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Parse reads SHA256SUMS bytes. It refuses (ErrUntrusted, naming the line)
// input over MaxSize, a line that is not "<64 lowercase hex>  <name>" or
// "<64 lowercase hex> *<name>" (blank lines, CR line ends and uppercase hex
// included: sha256sum writes none of them), a name that is not ValidName,
// a name listed twice, and a list with no entry. The last line's newline
// may be missing. Lines need not be sorted.
func Parse(data []byte) (Sums, error) {
	if len(data) > MaxSize {
		return nil, untrusted("%s is %d bytes, more than the %d a checksum list can be", SumsName, len(data), MaxSize)
	}
	sums := Sums{}
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		line = strings.TrimSuffix(line, "\n")
		hexSum, name, err := parseLine(line)
		if err != nil {
			return nil, untrusted("%s line %d: %v", SumsName, n, err)
		}
		if _, dup := sums[name]; dup {
			return nil, untrusted("%s line %d: %s is listed twice", SumsName, n, name)
		}
		sums[name] = hexSum
	}
	if len(sums) == 0 {
		return nil, untrusted("%s lists no files", SumsName)
	}
	return sums, nil
}

func parseLine(line string) (sum, name string, err error) {
	const hexLen = sha256.Size * 2
	if len(line) < hexLen+3 || line[hexLen] != ' ' || (line[hexLen+1] != ' ' && line[hexLen+1] != '*') {
		return "", "", fmt.Errorf("%q is not \"<64 hex digits>  <name>\" as sha256sum writes", short(line))
	}
	sum, name = line[:hexLen], line[hexLen+2:]
	for _, c := range []byte(sum) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "", fmt.Errorf("checksum %q is not 64 lowercase hex digits", sum)
		}
	}
	if !ValidName(name) {
		return "", "", fmt.Errorf("%q is not a plain file name (must match %s and not be . or ..)", short(name), NamePattern)
	}
	return sum, name, nil
}

// Format returns s as SHA256SUMS: sha256sum's text format, sorted by name.
// The names and sums must be valid (ValidName, 64 lowercase hex digits) for
// Parse to read the result back; Format does not check them.
func (s Sums) Format() []byte {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, name := range names {
		b.WriteString(s[name])
		b.WriteString("  ")
		b.WriteString(name)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// short quotes at most 80 bytes of s in error messages.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
