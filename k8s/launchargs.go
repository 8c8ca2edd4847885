package k8s

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LaunchArgs are the values the wiring depends on in a container's
// arguments `launch [flags] -- train [flags]`.
type LaunchArgs struct {
	NNodes, NProcPerNode, GPUsPerWorker int // 0: not given
	GossipPort                          int // 0: not given
	Config, Out                         string
	Train                               []string // the workers' command, after --
}

// launchBoolFlags are fdsm launch's flags that take no value.
var launchBoolFlags = []string{"tee", "insecure"}

// ParseLaunchArgs reads the arguments of `fdsm launch`.
func ParseLaunchArgs(args []string) (LaunchArgs, error) {
	var a LaunchArgs
	if len(args) == 0 || args[0] != "launch" {
		return a, fmt.Errorf("arguments %q do not start with launch", args)
	}
	dash := slices.Index(args, "--")
	if dash < 0 {
		return a, fmt.Errorf("arguments %q have no -- before the workers' command", args)
	}
	flags, err := flagValues(args[1:dash], launchBoolFlags)
	if err != nil {
		return a, err
	}
	a.Train = args[dash+1:]
	train, err := flagValues(a.Train[min(1, len(a.Train)):], []string{"resume", "resume-finite", "overwrite", "no-progress"})
	if err != nil {
		return a, err
	}
	a.Config, a.Out = train["config"], train["out"]
	for name, dst := range map[string]*int{"nnodes": &a.NNodes, "nproc-per-node": &a.NProcPerNode,
		"gpus-per-worker": &a.GPUsPerWorker, "gossip-port": &a.GossipPort} {
		if v, ok := flags[name]; ok {
			if *dst, err = strconv.Atoi(v); err != nil {
				return a, fmt.Errorf("--%s %q: not an integer", name, v)
			}
		}
	}
	return a, nil
}

// flagValues maps --name VALUE and --name=VALUE to name: VALUE; the flags
// named in bools take no value.
func flagValues(args []string, bools []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			return nil, fmt.Errorf("argument %q is not a --flag", args[i])
		}
		if k, v, eq := strings.Cut(name, "="); eq {
			out[k] = v
			continue
		}
		if slices.Contains(bools, name) {
			out[name] = "true"
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("--%s has no value", name)
		}
		out[name], i = args[i+1], i+1
	}
	return out, nil
}
