package github

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// TokenEnv is the environment variable TokenFromEnv reads.
const TokenEnv = "GITHUB_TOKEN"

// maxTokenFileBytes bounds a token file: GitHub tokens are well under
// 1 KiB, so anything bigger is the wrong file.
const maxTokenFileBytes = 16 << 10

// TokenFromEnv returns $GITHUB_TOKEN with surrounding whitespace trimmed,
// "" when unset. An empty result means "no token": the Client then sends
// unauthenticated requests (60 an hour per IP address on github.com).
func TokenFromEnv() string {
	return strings.TrimSpace(os.Getenv(TokenEnv))
}

// TokenFromFile reads a token from path, such as a systemd credential or
// a file readable only by the updater's user, trimming surrounding
// whitespace (the trailing newline editors add). Errors: the file cannot
// be read (fs.ErrNotExist, fs.ErrPermission), or ErrInvalidToken when it
// is empty, too big, or the token holds characters a header cannot carry.
// The error never contains the file's content.
func TokenFromFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read GitHub token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read GitHub token file %s: %w", path, err)
	}
	if len(data) > maxTokenFileBytes {
		return "", fmt.Errorf("cannot read GitHub token file %s: %w: the file is larger than %d bytes, is it the right file?",
			path, ErrInvalidToken, maxTokenFileBytes)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("cannot read GitHub token file %s: %w: the file is empty", path, ErrInvalidToken)
	}
	if err := checkToken(token); err != nil {
		return "", fmt.Errorf("cannot read GitHub token file %s: %w", path, err)
	}
	return token, nil
}

// checkToken refuses a token an HTTP header cannot carry, without quoting
// it.
func checkToken(token string) error {
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b >= 0x7f {
			return fmt.Errorf("%w: it contains whitespace, control or non-ASCII characters at byte %d", ErrInvalidToken, i)
		}
	}
	return nil
}

// validOwner accepts GitHub user and organisation names. GitHub allows
// letters, digits and hyphens, managed users add "_shortcode", and
// Enterprise Server may differ, so it accepts what validName accepts: the
// point is a safe URL path segment, not GitHub's exact rules.
func validOwner(s string) bool { return validName(s) }

// validName accepts GitHub repository names: letters, digits, '-', '_'
// and '.', at most 100 characters, not "." or "..".
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || isAlnum(r)) {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}
