package signedsums

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

const (
	hexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hexB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func newKey(t *testing.T) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestFormatParseRoundTrip(t *testing.T) {
	s := Sums{"b_v1.0.0_linux_amd64.tar.gz": hexB, "a.tar.gz": hexA, "c+1": Sum([]byte("x"))}
	got := s.Format()
	want := hexA + "  a.tar.gz\n" + hexB + "  b_v1.0.0_linux_amd64.tar.gz\n" + Sum([]byte("x")) + "  c+1\n"
	if string(got) != want {
		t.Fatalf("Format:\n%s\nwant\n%s", got, want)
	}
	back, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(s) {
		t.Fatalf("Parse(Format) = %v, want %v", back, s)
	}
	for k, v := range s {
		if back[k] != v {
			t.Errorf("%s: %q, want %q", k, back[k], v)
		}
	}
	if Sum([]byte("x")) != "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" {
		t.Errorf("Sum(x) = %s", Sum([]byte("x")))
	}
}

func TestParse(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name, in string
		want     Sums   // nil: an error
		errHas   string // part of the error
	}{
		{"two spaces", hexA + "  a.tar.gz\n", Sums{"a.tar.gz": hexA}, ""},
		{"binary marker", hexA + " *a.tar.gz\n", Sums{"a.tar.gz": hexA}, ""},
		{"no final newline", hexA + "  a\n" + hexB + "  b", Sums{"a": hexA, "b": hexB}, ""},
		{"unsorted", hexB + "  b\n" + hexA + "  a\n", Sums{"a": hexA, "b": hexB}, ""},
		{"128 characters", hexA + "  " + long + "\n", Sums{long: hexA}, ""},
		{"129 characters", hexA + "  " + long + "b\n", nil, "line 1"},
		{"empty", "", nil, "lists no files"},
		{"blank line", hexA + "  a\n\n", nil, "line 2"},
		{"one space", hexA + " a\n", nil, "line 1"},
		{"tab", hexA + "\ta\n", nil, "line 1"},
		{"CRLF", hexA + "  a\r\n", nil, "not a plain file name"},
		{"short hex", hexA[1:] + "  a\n", nil, "line 1"},
		{"uppercase hex", strings.ToUpper(hexA) + "  a\n", nil, "lowercase hex"},
		{"not hex", strings.Replace(hexA, "0", "g", 1) + "  a\n", nil, "lowercase hex"},
		{"no name", hexA + "  \n", nil, "line 1"},
		{"dotdot slash", hexA + "  ../x\n", nil, "not a plain file name"},
		{"absolute", hexA + "  /abs\n", nil, "not a plain file name"},
		{"folder", hexA + "  a/b\n", nil, "not a plain file name"},
		{"dotdot", hexA + "  ..\n", nil, "not a plain file name"},
		{"dot", hexA + "  .\n", nil, "not a plain file name"},
		{"hidden", hexA + "  .env\n", nil, "not a plain file name"},
		{"space in name", hexA + "  a b\n", nil, "not a plain file name"},
		{"star then bad name", hexA + " */etc/passwd\n", nil, "not a plain file name"},
		{"duplicate", hexA + "  a\n" + hexB + "  b\n" + hexB + "  a\n", nil, "line 3: a is listed twice"},
		{"duplicate via star", hexA + "  a\n" + hexA + " *a\n", nil, "listed twice"},
		{"comment", "# sums\n" + hexA + "  a\n", nil, "line 1"},
		{"oversized", strings.Repeat(hexA+"  a\n", MaxSize/67+1), nil, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Parse accepted it: %v", got)
				}
				if !errors.Is(err, ErrUntrusted) {
					t.Errorf("error does not wrap ErrUntrusted: %v", err)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not say %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"better-paas-updater_v1.2.3_linux_amd64.tar.gz": true,
		"SHA256SUMS": true, "a": true, "v1.0.0+build.1": true, "0": true,
		"": false, ".": false, "..": false, "../x": false, "/abs": false, "a/b": false,
		`a\b`: false, "-rf": false, "_x": false, ".hidden": false, "a\x00": false, "a\n": false,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestTrustedComment(t *testing.T) {
	got := TrustedComment("v1.2.3", time.Unix(1700000000, 0).In(time.FixedZone("x", 3600)))
	if want := "timestamp:1700000000\tfile:SHA256SUMS\tversion:v1.2.3"; got != want {
		t.Errorf("TrustedComment = %q, want %q", got, want)
	}
}

func TestSignVerify(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	when := time.Unix(1700000000, 0)
	sums := Sums{"a.tar.gz": hexA, "b.tar.gz": hexB}.Format()
	sig := Sign(priv, sums, "v1.2.3", when)

	if again := Sign(priv, sums, "v1.2.3", when); !bytes.Equal(sig, again) {
		t.Errorf("Sign is not reproducible:\n%s\n%s", sig, again)
	}
	var parsed minisign.Signature
	if err := parsed.UnmarshalText(sig); err != nil {
		t.Fatal(err)
	}
	if parsed.TrustedComment != TrustedComment("v1.2.3", when) || parsed.UntrustedComment != UntrustedComment {
		t.Errorf("comments: %q / %q", parsed.TrustedComment, parsed.UntrustedComment)
	}

	// A signature whose trusted comment is rewritten, re-encoded with the
	// original signatures: a replay of v1.2.3's sums claimed as v1.2.4.
	forged := parsed
	forged.TrustedComment = TrustedComment("v1.2.4", when)
	forgedText, err := forged.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	// The untrusted comment is not signed: changing it is harmless.
	relabeled := bytes.Replace(sig, []byte(UntrustedComment), []byte("anything at all"), 1)
	if bytes.Equal(relabeled, sig) {
		t.Fatal("untrusted comment not found in signature")
	}
	tampered := bytes.Clone(sums)
	tampered[3] ^= 1
	// A valid signature with a trusted comment lacking a version field.
	noVersion := minisign.SignWithComments(priv, sums, "timestamp:1700000000\tfile:SHA256SUMS", "x")

	for _, tc := range []struct {
		name    string
		key     minisign.PublicKey
		sums    []byte
		sig     []byte
		version string
		errHas  string // "" = verifies
	}{
		{"valid", pub, sums, sig, "v1.2.3", ""},
		{"untrusted comment changed", pub, sums, relabeled, "v1.2.3", ""},
		{"other version's sums", pub, sums, sig, "v1.2.4", "signed for version v1.2.3, not v1.2.4"},
		{"version prefix only", pub, sums, sig, "v1.2", "not v1.2"},
		{"trusted comment changed", pub, sums, forgedText, "v1.2.4", "does not verify"},
		{"other key", otherPub, sums, sig, "v1.2.3", "not by the trusted key"},
		{"signed by other key", pub, sums, Sign(otherPriv, sums, "v1.2.3", when), "v1.2.3", "not by the trusted key"},
		{"modified byte", pub, tampered, sig, "v1.2.3", "does not verify"},
		{"appended line", pub, append(bytes.Clone(sums), hexA+"  c\n"...), sig, "v1.2.3", "does not verify"},
		{"missing signature", pub, sums, nil, "v1.2.3", "empty or missing"},
		{"blank signature", pub, sums, []byte("\n"), "v1.2.3", "empty or missing"},
		{"garbage signature", pub, sums, []byte("untrusted comment: x\nnot base64\n"), "v1.2.3", "cannot parse"},
		{"no version field", pub, sums, noVersion, "v1.2.3", "no version: field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.key, tc.sums, tc.sig, tc.version)
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted it")
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q: want ErrUntrusted saying %q", err, tc.errHas)
			}
		})
	}
}

func TestSignRefusesUnusableVersion(t *testing.T) {
	_, priv := newKey(t)
	for _, v := range []string{"", "v1\tversion:v2", "v1\n"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Sign(%q) did not panic", v)
				}
			}()
			Sign(priv, []byte("x"), v, time.Unix(0, 0))
		}()
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _ := newKey(t)
	line := pub.String()
	file, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"line", line, true},
		{"line with spaces", "  " + line + "\n", true},
		{"pub file", string(file), true},
		{"pub file CRLF", strings.ReplaceAll(string(file), "\n", "\r\n"), true},
		{"empty", "", false},
		{"truncated", line[:20], false},
		{"not base64", "RW!!!", false},
		{"two keys", line + "\n" + line, false},
		{"comment only", "untrusted comment: x\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKey(tc.in)
			if !tc.ok {
				if err == nil {
					t.Fatalf("accepted %q", tc.in)
				}
				if !strings.Contains(err.Error(), "public key") {
					t.Errorf("error does not say what it parsed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(pub) {
				t.Errorf("got key %s, want %s", got, pub)
			}
		})
	}
}
