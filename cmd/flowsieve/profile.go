package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// profiles are the Go profiles a command writes over its whole run, for
// finding where the pipeline spends CPU (cpu) and where it waits (block:
// channel, select and lock waits; mutex: lock contention). Off unless a
// file is given; the block and mutex profiles sample every event, which
// costs a little, so they are for measurement runs.
type profiles struct {
	cpu, block, mutex string
}

func (p *profiles) register(fs *pflag.FlagSet, block bool) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	if block {
		fs.StringVar(&p.block, "blockprofile", "", "write a blocking profile (where goroutines wait) of the whole run to this file")
		fs.StringVar(&p.mutex, "mutexprofile", "", "write a mutex contention profile of the whole run to this file")
	}
}

// outputs are the profile files, for refuseClobber.
func (p *profiles) outputs() []output {
	return []output{{"--cpuprofile", p.cpu}, {"--blockprofile", p.block}, {"--mutexprofile", p.mutex}}
}

// start begins the requested profiles; stop ends them and writes the
// files.
func (p *profiles) start() (stop func() error, err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	if p.block != "" {
		runtime.SetBlockProfileRate(1)
	}
	if p.mutex != "" {
		runtime.SetMutexProfileFraction(1)
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpu.Close())
		}
		errs = append(errs, writeProfile("block", p.block), writeProfile("mutex", p.mutex))
		return errors.Join(errs...)
	}, nil
}

func writeProfile(name, file string) error {
	if file == "" {
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}
