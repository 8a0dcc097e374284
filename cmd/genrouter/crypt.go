package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/secret"
)

// genrouter encrypt / decrypt: credentials at rest (see package secret).
//
// Editing a config file in place is done textually: the file is parsed
// with yaml.v3 to find the credential scalars and where they start, and
// exactly those scalars' text is replaced, keeping their quoting style.
// Everything else — comments, blank lines, indentation, key order, flow
// or block style, anchors — stays byte for byte, which re-encoding the
// node tree would not guarantee (yaml.v3 drops blank lines and reindents).
// The result is parsed again and compared node by node with the original
// (same structure, same comments, every other scalar unchanged, each edited
// scalar holding exactly the new value) before anything is written; a
// scalar whose text cannot be replaced safely (a multi-line or block
// scalar) is reported and left alone.

const maxValueBytes = 1 << 20 // a value read from stdin

func encryptUsage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprint(fs.Output(), `Usage:
  genrouter encrypt [VALUE | -]                 print VALUE encrypted (from stdin when - or absent)
  genrouter encrypt --config FILE [--headers]   encrypt every plaintext credential of FILE in place
  genrouter encrypt --new-key                   print a fresh GENROUTER_SECRET_KEY

The key comes from GENROUTER_SECRET_KEY (32 bytes, base64 or 64 hex digits).
Reading the value from stdin keeps it out of shell history:
  echo "$OPENAI_API_KEY" | genrouter encrypt
With --config, FILE (YAML/JSON config, or a legacy credentials.json) is
rewritten with only the credential values changed; the original is kept as
FILE.bak (mode 0600). ${VAR} references and encrypted values are left alone.

Flags:
`)
		fs.PrintDefaults()
	}
}

func decryptUsage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprint(fs.Output(), `Usage:
  genrouter decrypt [VALUE | -]       print the plaintext of an enc:v1: value (from stdin when - or absent)
  genrouter decrypt --config FILE     print FILE with every enc:v1: value decrypted (FILE is not changed)

The key comes from GENROUTER_SECRET_KEY. The output holds plaintext keys.

Flags:
`)
		fs.PrintDefaults()
	}
}

// encryptCmd is `genrouter encrypt`. Exit codes: 0 ok, 1 error, 2 usage.
func encryptCmd(args []string, stdin io.Reader, stdout, stderr io.Writer, env config.LookupFunc) int {
	fs := flag.NewFlagSet("encrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = encryptUsage(fs)
	file := fs.String("config", "", "config file to encrypt in place")
	headers := fs.Bool("headers", false, "with --config: encrypt vendors[].headers values too")
	newKey := fs.Bool("new-key", false, "print a fresh random key for GENROUTER_SECRET_KEY")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case *newKey && (*file != "" || *headers || fs.NArg() > 0):
		return usageError(fs, "encrypt: --new-key takes no other argument")
	case *file != "" && fs.NArg() > 0:
		return usageError(fs, "encrypt: give either VALUE or --config FILE, not both")
	case *headers && *file == "":
		return usageError(fs, "encrypt: --headers goes with --config FILE")
	case fs.NArg() > 1:
		return usageError(fs, "encrypt: one VALUE at a time (or - to read it from stdin)")
	}
	if *newKey {
		fmt.Fprintln(stdout, secret.NewKey())
		return 0
	}
	key, err := secretKey(env)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter encrypt:", err)
		return 1
	}
	if *file != "" {
		if err := encryptFile(*file, key, *headers, stdout); err != nil {
			fmt.Fprintln(stderr, "genrouter encrypt:", err)
			return 1
		}
		return 0
	}
	value, err := readValue(fs.Args(), stdin, stderr, "value to encrypt")
	if err == nil && value == "" {
		err = errors.New("nothing to encrypt: the value is empty")
	}
	if err == nil && secret.IsEncrypted(value) {
		err = errors.New("the value is already encrypted (" + secret.Prefix + "…)")
	}
	if err != nil {
		fmt.Fprintln(stderr, "genrouter encrypt:", err)
		return 1
	}
	enc, err := secret.Encrypt(key, value)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter encrypt:", err)
		return 1
	}
	fmt.Fprintln(stdout, enc)
	return 0
}

// decryptCmd is `genrouter decrypt`. Exit codes: 0 ok, 1 error, 2 usage.
func decryptCmd(args []string, stdin io.Reader, stdout, stderr io.Writer, env config.LookupFunc) int {
	fs := flag.NewFlagSet("decrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = decryptUsage(fs)
	file := fs.String("config", "", "config file to print decrypted (it is not changed)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case *file != "" && fs.NArg() > 0:
		return usageError(fs, "decrypt: give either VALUE or --config FILE, not both")
	case fs.NArg() > 1:
		return usageError(fs, "decrypt: one VALUE at a time (or - to read it from stdin)")
	}
	key, err := secretKey(env)
	if err != nil {
		fmt.Fprintln(stderr, "genrouter decrypt:", err)
		return 1
	}
	if *file != "" {
		out, err := decryptFile(*file, key)
		if err != nil {
			fmt.Fprintln(stderr, "genrouter decrypt:", err)
			return 1
		}
		stdout.Write(out)
		return 0
	}
	value, err := readValue(fs.Args(), stdin, stderr, "value to decrypt")
	if err == nil {
		value, err = secret.Decrypt(key, strings.TrimSpace(value))
	}
	if err != nil {
		fmt.Fprintln(stderr, "genrouter decrypt:", err)
		return 1
	}
	fmt.Fprintln(stdout, value)
	return 0
}

// parseFlags parses args; ok is false when the command should exit with code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}

func usageError(fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(fs.Output(), "genrouter %s\n\n", msg)
	fs.Usage()
	return 2
}

// secretKey reads GENROUTER_SECRET_KEY; errors never show its value.
func secretKey(env config.LookupFunc) ([]byte, error) {
	raw, _ := env(secret.EnvKey)
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%s is not set: create a key with `genrouter encrypt --new-key`, keep it safe, and export it as %s",
			secret.EnvKey, secret.EnvKey)
	}
	key, err := secret.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", secret.EnvKey, err)
	}
	return key, nil
}

// readValue returns args[0], or reads stdin when there is no argument or
// it is "-": one line from a terminal (after a prompt on stderr), else
// everything, without the trailing line break.
func readValue(args []string, stdin io.Reader, stderr io.Writer, what string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		return args[0], nil
	}
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(stderr, "%s (shown as typed; pipe it in to avoid that), then Enter: ", what)
			line, err := bufio.NewReader(io.LimitReader(f, maxValueBytes)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("reading stdin: %w", err)
			}
			return strings.TrimRight(line, "\r\n"), nil
		}
	}
	data, err := io.ReadAll(io.LimitReader(stdin, maxValueBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading stdin: %w", err)
	}
	if len(data) > maxValueBytes {
		return "", fmt.Errorf("the value on stdin is longer than %d bytes", maxValueBytes)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// A credential scalar in a genrouter config or a legacy credentials.json.
var (
	credentialPath = regexp.MustCompile(`^vendors\[\d+\]\.credentials\[\d+\](\.key)?$`)
	headerPath     = regexp.MustCompile(`^vendors\[\d+\]\.headers\.[^.\[]+$`)
	legacyPath     = regexp.MustCompile(`^\[\d+\]\.value$`)
)

func isCredentialPath(path string, headers bool) bool {
	return credentialPath.MatchString(path) || legacyPath.MatchString(path) ||
		(headers && headerPath.MatchString(path))
}

// encryptFile encrypts the plaintext credentials of file in place.
func encryptFile(file string, key []byte, headers bool, out io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	doc, err := parseDocument(file, data)
	if err != nil {
		return err
	}
	var (
		edits                                 = map[*yaml.Node]scalarEdit{}
		encrypted, already, skipped, mismatch int
	)
	line := func(path, masked, what string) {
		// A key from a block scalar may end in a line break: keep one line each.
		masked = strings.Map(func(r rune) rune {
			if !strconv.IsPrint(r) {
				return '?'
			}
			return r
		}, masked)
		fmt.Fprintf(out, "  %-32s %-14s %s\n", path, orDash(masked), what)
	}
	walkScalars(doc, func(path string, n *yaml.Node) {
		if !isCredentialPath(path, headers) {
			return
		}
		v := n.Value
		switch {
		case n.Kind == yaml.AliasNode:
			skipped++
			line(path, "", "skipped: a YAML alias (encrypt the value where its anchor is)")
		case n.ShortTag() == "!!null" || v == "":
			// Nothing to protect (keyless vendors).
		case secret.IsEncrypted(v):
			plain, err := secret.Decrypt(key, v)
			if err != nil {
				mismatch++
				line(path, "", "ERROR: already encrypted, but does not decrypt with this "+secret.EnvKey)
				return
			}
			already++
			line(path, config.Mask(plain), "already encrypted")
		case strings.Contains(v, "${"):
			skipped++
			line(path, "", "skipped: comes from the environment (${…})")
		default:
			plain := strings.ReplaceAll(v, "$$", "$") // what the loader makes of it
			if _, _, err := scalarSpan(data, n); err != nil {
				skipped++
				line(path, config.Mask(plain), "skipped: "+err.Error()+"; encrypt it by hand")
				return
			}
			enc, err := secret.Encrypt(key, plain)
			if err != nil {
				mismatch++
				line(path, "", "ERROR: "+err.Error())
				return
			}
			edits[n] = scalarEdit{text: quoteLike(n, enc), want: enc}
			encrypted++
			line(path, config.Mask(plain), "encrypted")
		}
	})
	if mismatch > 0 {
		return fmt.Errorf("%s: %d value(s) could not be handled (see above); the file is unchanged", file, mismatch)
	}
	summary := fmt.Sprintf("%s: %d encrypted, %d already encrypted, %d skipped", file, encrypted, already, skipped)
	if encrypted == 0 {
		fmt.Fprintln(out, summary+"; nothing to do, the file is unchanged")
		return nil
	}
	next, err := rewriteScalars(file, data, doc, edits)
	if err != nil {
		return err
	}
	backup := file + ".bak"
	if err := writeFileAtomic(backup, data, 0o600); err != nil {
		return fmt.Errorf("writing the backup (the file is unchanged): %w", err)
	}
	target, err := filepath.EvalSymlinks(file) // edit the file a symlink points to, keep the link
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := writeFileAtomic(target, next, mode); err != nil {
		return fmt.Errorf("writing %s (the original is in %s): %w", file, backup, err)
	}
	fmt.Fprintf(out, "%s; the original is in %s (mode 0600, it holds the plaintext keys: delete it once the gateway starts with %s set)\n",
		summary, backup, secret.EnvKey)
	return nil
}

// decryptFile returns file's text with every enc:v1: scalar decrypted.
func decryptFile(file string, key []byte) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	doc, err := parseDocument(file, data)
	if err != nil {
		return nil, err
	}
	edits := map[*yaml.Node]scalarEdit{}
	var failed error
	walkScalars(doc, func(path string, n *yaml.Node) {
		if failed != nil || n.Kind != yaml.ScalarNode || !secret.IsEncrypted(n.Value) {
			return
		}
		plain, err := secret.Decrypt(key, n.Value)
		if err != nil {
			failed = fmt.Errorf("%s:%d: %s: %w", file, n.Line, orRootPath(path), err)
			return
		}
		if _, _, err := scalarSpan(data, n); err != nil {
			failed = fmt.Errorf("%s:%d: %s: %w", file, n.Line, orRootPath(path), err)
			return
		}
		want := strings.ReplaceAll(plain, "$", "$$") // the loader expands ${VAR}
		edits[n] = scalarEdit{text: yamlScalar(n, want), want: want}
	})
	if failed != nil {
		return nil, failed
	}
	return rewriteScalars(file, data, doc, edits)
}

func orRootPath(p string) string {
	if p == "" {
		return "top level"
	}
	return p
}

// parseDocument parses the single YAML (or JSON) document in data. An empty
// file gives an empty document.
func parseDocument(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.DocumentNode}, nil
		}
		// yaml.v3's syntax messages are fixed texts, never quoting input.
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", file)
	}
	return &doc, nil
}

// walkScalars calls fn with every scalar and alias value node in document
// order and its path in the config's error notation (vendors[0].headers.X).
// Mapping keys are not values and are not visited; aliases are not followed.
func walkScalars(n *yaml.Node, fn func(path string, n *yaml.Node)) {
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.ScalarNode, yaml.AliasNode:
			fn(path, n)
		}
	}
	walk(n, "")
}

// scalarEdit replaces a scalar's source text with text, which must parse
// back to want.
type scalarEdit struct {
	text, want string
}

// rewriteScalars applies edits to data and checks the result: it must parse
// to the same tree with the same comments, every edited scalar holding its
// new value and every other scalar unchanged.
func rewriteScalars(file string, data []byte, doc *yaml.Node, edits map[*yaml.Node]scalarEdit) ([]byte, error) {
	type span struct {
		start, end int
		text       string
	}
	spans := make([]span, 0, len(edits))
	for n, e := range edits {
		start, end, err := scalarSpan(data, n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n.Line, err)
		}
		spans = append(spans, span{start, end, e.text})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var out bytes.Buffer
	last := 0
	for _, s := range spans {
		if s.start < last {
			return nil, fmt.Errorf("%s: overlapping values; the file is unchanged", file)
		}
		out.Write(data[last:s.start])
		out.WriteString(s.text)
		last = s.end
	}
	out.Write(data[last:])

	var got yaml.Node
	if err := yaml.Unmarshal(out.Bytes(), &got); err != nil || !sameTree(doc, &got, edits) {
		return nil, fmt.Errorf("%s: could not rewrite the values safely (unusual layout?); the file is unchanged", file)
	}
	return out.Bytes(), nil
}

func sameTree(a, b *yaml.Node, edits map[*yaml.Node]scalarEdit) bool {
	if a.Kind != b.Kind || len(a.Content) != len(b.Content) || a.Anchor != b.Anchor ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment {
		return false
	}
	want := a.Value
	if e, ok := edits[a]; ok {
		want = e.want
	}
	if b.Value != want {
		return false
	}
	for i := range a.Content {
		if !sameTree(a.Content[i], b.Content[i], edits) {
			return false
		}
	}
	return true
}

// scalarSpan finds the byte range of n's text in data: from its first
// character (after an anchor or tag) to its end, quotes included. Only
// single-line plain, single- and double-quoted scalars are supported.
func scalarSpan(data []byte, n *yaml.Node) (start, end int, err error) {
	unsupported := errors.New("a multi-line or block scalar cannot be edited in place")
	if n.Kind != yaml.ScalarNode || n.Line < 1 || n.Column < 1 {
		return 0, 0, unsupported
	}
	// Line and Column are 1-based; Column counts characters, not bytes.
	pos := 0
	for line := 1; line < n.Line; line++ {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			return 0, 0, unsupported
		}
		pos += i + 1
	}
	for col := 1; col < n.Column; col++ {
		if pos >= len(data) || data[pos] == '\n' {
			return 0, 0, unsupported
		}
		_, size := utf8.DecodeRune(data[pos:])
		pos += size
	}
	// Skip properties: &anchor and !tag, each followed by blanks.
	for pos < len(data) && (data[pos] == '&' || data[pos] == '!') {
		for pos < len(data) && !isBlank(data[pos]) {
			pos++
		}
		for pos < len(data) && (data[pos] == ' ' || data[pos] == '\t') {
			pos++
		}
	}
	if pos >= len(data) {
		return 0, 0, unsupported
	}
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := data[pos]
		if q != '"' && q != '\'' {
			return 0, 0, unsupported
		}
		for i := pos + 1; i < len(data); i++ {
			switch c := data[i]; {
			case c == '\n':
				return 0, 0, unsupported
			case q == '"' && c == '\\':
				i++
			case c == q && q == '\'' && i+1 < len(data) && data[i+1] == '\'':
				i++
			case c == q:
				return pos, i + 1, nil
			}
		}
		return 0, 0, unsupported
	case 0:
		if strings.ContainsAny(n.Value, "\r\n") || !bytes.HasPrefix(data[pos:], []byte(n.Value)) {
			return 0, 0, unsupported
		}
		return pos, pos + len(n.Value), nil
	}
	return 0, 0, unsupported
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// quoteLike writes v (base64 and "enc:v1:", safe in every style) in n's
// quoting style.
func quoteLike(n *yaml.Node, v string) string {
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case yaml.DoubleQuotedStyle:
		return `"` + v + `"`
	case yaml.SingleQuotedStyle:
		return "'" + v + "'"
	}
	return v
}

var plainSafe = regexp.MustCompile(`^[\pL\pN_][\pL\pN_.+/=~@-]*$`)

// yamlScalar writes an arbitrary string as a scalar, in n's quoting style
// where that style can hold it, else double-quoted.
func yamlScalar(n *yaml.Node, v string) string {
	printable := utf8.ValidString(v) && !strings.ContainsFunc(v, func(r rune) bool { return !strconv.IsPrint(r) })
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case yaml.SingleQuotedStyle:
		if printable {
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
	case 0:
		if plainSafe.MatchString(v) && resolvesToString(v) {
			return v
		}
	}
	return strconv.Quote(v) // Go's escapes are a subset of YAML's double-quoted ones
}

// resolvesToString reports whether a plain scalar v stays a string (and
// not null, a boolean or a number).
func resolvesToString(v string) bool {
	var n yaml.Node
	return yaml.Unmarshal([]byte(v), &n) == nil && len(n.Content) == 1 && n.Content[0].ShortTag() == "!!str"
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, so a crash leaves the old file or the new one, never a
// mix.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
