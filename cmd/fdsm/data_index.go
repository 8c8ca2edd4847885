package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/progress"
)

func newDataIndexCmd() *cobra.Command {
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "index SHARDS",
		Short: "Count the records of tar shards into their index (" + data.ShardIndexName + ")",
		Long: `Reads every shard SHARDS names (a directory's .tar files, or a glob) and
writes the number of records in each to ` + data.ShardIndexName + ` in their directory
(WebDataset's wids index layout: a shardlist of url and nsamples). ` + "`fdsm data shard`" + `
writes it with the shards; index shards written by other tools with this.

With the index, data-parallel ranks end every epoch at the same step, so
an interrupt checkpoints its last step and any checkpoint resumes on any
number of ranks; a bad record keeps its place (filled from its batch).
A shard that cannot be read whole is an error: repair or remove it first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := data.ShardFiles(args[0])
			if err != nil {
				return err
			}
			dir := filepath.Dir(paths[0])
			bar := progress.New(stderrFor(cmd.ErrOrStderr()), len(paths), progress.Options{Label: "index", Unit: "shard", Draw: !noProgress})
			ix, err := data.IndexShards(dir, paths, func(n int) { bar.Set(n, "") })
			if err != nil {
				bar.Stop("failed")
				return err
			}
			bar.Finish()
			records := 0
			for _, e := range ix.Shards {
				records += e.Records
			}
			fmt.Fprintf(cmd.OutOrStdout(), "indexed %d shards (%d records) in %s\n", len(paths), records, filepath.Join(dir, data.ShardIndexName))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress line even on a terminal")
	return cmd
}
