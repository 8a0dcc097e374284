package docs

import (
	"archive/zip"
	"bytes"

	"github.com/xuri/excelize/v2"
)

// xlsx renders each sheet as a Markdown table under "## Sheet: name", with
// cells as Excel displays them (number formats and dates applied).
func (x *extractor) xlsx(data []byte, z *zip.Reader) error {
	// excelize inflates every part on open, so the whole package is checked
	// and charged against the budget first.
	var total int64
	for _, f := range z.File {
		if err := x.checkRatio(f); err != nil {
			return err
		}
		total += int64(f.UncompressedSize64)
		if total < 0 || x.decompressed+total > x.lim.MaxDecompressed {
			return errorf(KindLimit, "the workbook inflates to more than %d bytes", x.lim.MaxDecompressed)
		}
	}
	room := x.lim.MaxDecompressed - x.decompressed
	x.decompressed += total
	// The XML limit equal to the total keeps excelize from spilling parts to
	// temp files.
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: room, UnzipXMLSizeLimit: room})
	if err != nil {
		return errorf(KindCorrupt, "the workbook is corrupt or unreadable%s", detail(err))
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		x.out.WriteString("(the workbook has no sheets)")
	}
	for _, name := range sheets {
		if err := x.alive(); err != nil {
			return err
		}
		x.out.block()
		x.out.WriteString("## Sheet: " + name)
		rows, err := f.Rows(name)
		if err != nil {
			// Chart sheets and the like have no cells.
			x.out.WriteString("\n\n(no cells)")
			continue
		}
		var table [][]string
		kept, room := 0, x.lim.MaxChars-x.out.n
		for i := 0; rows.Next(); i++ {
			if i%1024 == 0 {
				if err := x.alive(); err != nil {
					rows.Close()
					return err
				}
			}
			cols, err := rows.Columns()
			if err != nil {
				rows.Close()
				return errorf(KindCorrupt, "sheet %q is unreadable%s", name, detail(err))
			}
			// Rows that no longer fit are only counted, for the cut marker.
			if kept <= room {
				table = append(table, cols)
				kept += rowChars(cols)
			} else {
				x.out.over += rowChars(cols)
			}
		}
		err = rows.Error()
		rows.Close()
		if err != nil {
			return errorf(KindCorrupt, "sheet %q is unreadable%s", name, detail(err))
		}
		before := x.out.n + x.out.over
		x.out.table(table)
		if x.out.n+x.out.over == before {
			x.out.WriteString("\n\n(empty sheet)")
		}
	}
	return nil
}
