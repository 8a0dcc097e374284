package docs

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"path"
	"strings"
)

// openZip reads an archive's directory and tells from it which kind of
// archive it is.
func openZip(data []byte) (*zip.Reader, Format, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, "", errorf(KindCorrupt, "the archive is corrupt%s", detail(err))
	}
	f, err := zipFormat(z)
	return z, f, err
}

// countMembers checks an archive's members against the member limit.
func (x *extractor) countMembers(z *zip.Reader) error {
	x.members += len(z.File)
	if x.members > x.lim.MaxMembers {
		return errorf(KindLimit, "the archive has more than %d members", x.lim.MaxMembers)
	}
	return nil
}

// readMember inflates one member within the budget. archive/zip itself fails
// a member that inflates past its declared size, so checking the declared
// size and ratio up front bounds the real work.
func (x *extractor) readMember(f *zip.File) ([]byte, error) {
	if err := x.alive(); err != nil {
		return nil, err
	}
	if f.Flags&1 != 0 {
		return nil, errorf(KindEncrypted, "%s is encrypted", f.Name)
	}
	if err := x.checkRatio(f); err != nil {
		return nil, err
	}
	size := f.UncompressedSize64
	if int64(size) < 0 || x.decompressed+int64(size) > x.lim.MaxDecompressed {
		return nil, errorf(KindLimit, "the archive inflates to more than %d bytes", x.lim.MaxDecompressed)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, errorf(KindCorrupt, "%s is unreadable%s", f.Name, detail(err))
	}
	defer rc.Close()
	b := make([]byte, 0, size)
	buf := bytes.NewBuffer(b)
	// +1 so a lying header shows as an error from archive/zip, not a silent cut.
	n, err := io.Copy(buf, io.LimitReader(rc, int64(size)+1))
	x.decompressed += n
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, zip.ErrChecksum) {
			return nil, errorf(KindCorrupt, "%s is corrupt%s", f.Name, detail(err))
		}
		return nil, errorf(KindCorrupt, "%s is unreadable%s", f.Name, detail(err))
	}
	return buf.Bytes(), nil
}

// checkRatio refuses a member of over 1 MiB that inflates more than
// MaxRatio times its compressed size.
func (x *extractor) checkRatio(f *zip.File) error {
	size := f.UncompressedSize64
	if size > 1<<20 && size/max(f.CompressedSize64, 1) > uint64(x.lim.MaxRatio) {
		return errorf(KindLimit, "%s inflates %d times its size (a zip bomb?)", f.Name, size/max(f.CompressedSize64, 1))
	}
	return nil
}

// member finds a member by name (OOXML names are case-insensitive).
func member(z *zip.Reader, name string) *zip.File {
	name = strings.TrimPrefix(name, "/")
	for _, f := range z.File {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// readPart reads a named member; a missing one is nil, nil.
func (x *extractor) readPart(z *zip.Reader, name string) ([]byte, error) {
	f := member(z, name)
	if f == nil {
		return nil, nil
	}
	return x.readMember(f)
}

// zip extracts each member by its own type under a heading with its path.
func (x *extractor) zip(z *zip.Reader, name string, depth int) error {
	prefix := ""
	if depth > 1 && name != "" {
		prefix = name + "/"
	}
	any := false
	for _, f := range z.File {
		if f.FileInfo().IsDir() || skipMember(f.Name) {
			continue
		}
		any = true
		if err := x.alive(); err != nil {
			return err
		}
		x.out.block()
		x.out.WriteString("## " + prefix + f.Name + "\n\n")
		data, err := x.readMember(f)
		if err == nil {
			err = x.file(data, prefix+f.Name, "", depth)
		}
		var de *Error
		if errors.As(err, &de) && (de.Kind == KindUnsupported || de.Kind == KindCorrupt || de.Kind == KindEncrypted) {
			// One unreadable member does not spoil the rest of the archive.
			x.out.line()
			x.out.WriteString("(not extracted: " + de.Reason + ")\n")
			continue
		}
		if err != nil {
			return err
		}
	}
	if !any {
		x.out.WriteString("(empty archive)")
	}
	return nil
}

// skipMember drops the litter that archivers add.
func skipMember(name string) bool {
	base := path.Base(name)
	return strings.HasPrefix(name, "__MACOSX/") || base == ".DS_Store" || base == "Thumbs.db"
}
