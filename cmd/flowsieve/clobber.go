package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// output is a file a command writes, named by the flag that gave it.
type output struct{ flag, path string }

// refuseClobber refuses output files that are one of the inputs, or one
// another, before anything is opened for writing: os.Create would empty
// an input before it is read. Files are compared by inode (os.SameFile),
// so another path to the same file, a hard link or a symlink counts. "-"
// among the inputs is stdin, and stdout counts as an output when it is a
// file (`>> input`). An output that does not exist yet is no input.
func refuseClobber(stdout io.Writer, outputs []output, inputs []string) error {
	type named struct {
		what string
		st   os.FileInfo
	}
	var ins []named
	for _, in := range inputs {
		var st os.FileInfo
		var err error
		if in == "-" {
			fh, ok := stdin.(*os.File)
			if !ok {
				continue
			}
			st, err = fh.Stat()
			in = "stdin"
		} else {
			st, err = os.Stat(in)
		}
		if err == nil && st.Mode().IsRegular() {
			ins = append(ins, named{in, st})
		}
	}
	if fh, ok := stdout.(*os.File); ok {
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			for _, in := range ins {
				if os.SameFile(st, in.st) {
					return fmt.Errorf("stdout is the input %s: writing to it would change what is being read", in.what)
				}
			}
		}
	}
	var outs []named
	abs := map[string]string{} // outputs that do not exist yet, by absolute path
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		st, err := os.Stat(o.path)
		if err != nil {
			a, aerr := filepath.Abs(o.path)
			if aerr != nil {
				a = o.path
			}
			if prev, dup := abs[a]; dup {
				return fmt.Errorf("%s %s is the same file as %s: give each output a file of its own", o.flag, o.path, prev)
			}
			abs[a] = o.flag + " " + o.path
			continue
		}
		for _, in := range ins {
			if os.SameFile(st, in.st) {
				return fmt.Errorf("%s %s is the input %s: refusing to overwrite an input", o.flag, o.path, in.what)
			}
		}
		for _, prev := range outs {
			if os.SameFile(st, prev.st) {
				return fmt.Errorf("%s %s is the same file as %s: give each output a file of its own", o.flag, o.path, prev.what)
			}
		}
		outs = append(outs, named{o.flag + " " + o.path, st})
	}
	return nil
}
