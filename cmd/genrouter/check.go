package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/genrouter/genrouter/internal/config"
)

// check validates a config and prints its combinations, keys masked.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "genrouter check:", err)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tVENDOR\tTYPE\tCREDENTIAL\tKEY\tMODEL\tCAPABILITIES\tBASE URL")
	n := 0
	for _, v := range cfg.Vendors {
		for _, c := range v.Credentials {
			for _, m := range v.Models {
				n++
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, v.Name, v.Type, c.Name,
					orDash(config.Mask(c.Key)), m.Name, caps(m), orDash(v.BaseURL))
			}
		}
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%s: OK, %d vendors, %d combinations, routing %s, unknown models: %s\n",
		cfg.Source, len(cfg.Vendors), n, cfg.Routing.Strategy, cfg.Routing.UnknownModels)
	return 0
}

func caps(m config.Model) string {
	if m.Embedding {
		return "embeddings"
	}
	var c []string
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Tools, "tools"}, {m.Images, "images"}, {m.Streaming, "streaming"}, {m.Video, "video"}, {m.Audio, "audio"}} {
		if f.on {
			c = append(c, f.name)
		}
	}
	if len(c) == 0 {
		return "text"
	}
	return strings.Join(c, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
